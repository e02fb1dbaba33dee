"""The raw transfer ceiling: boto3's transfer manager moving the same bytes to and from
the same S3 endpoint, with the same part size and concurrency as the connectors.

Run as a child process by the harness (``python -m bench.raw put|get ...``); it prints
one JSON line with the seconds the transfer itself took (interpreter start-up excluded).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from boto3.s3.transfer import TransferConfig

from bench.stack import s3_client


class PaddedReader:
    """``path``'s bytes, then zeros up to ``size``: as many bytes as the encrypted file
    without writing a second copy of it to disk."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle = handle
        self._left = size

    def read(self, amount: int = -1) -> bytes:
        if amount < 0 or amount > self._left:
            amount = self._left
        data = self._handle.read(amount)
        data += bytes(amount - len(data))
        self._left -= amount
        return data


def transfer_config(part_size: int, concurrency: int) -> TransferConfig:
    return TransferConfig(
        multipart_threshold=part_size,
        multipart_chunksize=part_size,
        max_concurrency=concurrency,
        use_threads=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.raw", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("put", "get"))
    parser.add_argument("--endpoints", type=Path, required=True, help="a JSON file")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--size", type=int, default=0, help="bytes to put (zero-padded)")
    parser.add_argument("--part-size", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args(argv)
    endpoints: dict[str, Any] = json.loads(args.endpoints.read_text())
    s3 = s3_client(endpoints)
    config = transfer_config(args.part_size, args.concurrency)
    started = time.perf_counter()
    if args.action == "put":
        with open(args.file, "rb") as handle:
            s3.upload_fileobj(PaddedReader(handle, args.size), args.bucket, args.key, Config=config)
    else:
        s3.download_file(args.bucket, args.key, str(args.file), Config=config)
    print(json.dumps({"seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
