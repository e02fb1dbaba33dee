"""Micro-benchmark: Crypt4GH segment encryption versus hashing, over 64 MiB in memory.

Why: the connector and the services encrypt/decrypt and hash every byte of every file, so
the choice of ChaCha20-Poly1305 implementation matters (ARCHITECTURE.md §8: measure before
choosing). Run: .venv/bin/python bench/c4gh_speed.py [MiB]
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from crypt4gh import sodium

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.crypt.c4gh import (
    CIPHER_SEGMENT_SIZE,
    SEGMENT_SIZE,
    SegmentDecryptor,
    SegmentEncryptor,
    encrypt_body,
)

MIB = 1024 * 1024
REPEATS = 3


def best_mib_per_s(size: int, run: Callable[[], object]) -> float:
    """Best of REPEATS runs, in MiB/s of plaintext."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return size / MIB / best


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    size = size_mib * MIB
    data = os.urandom(size)
    view = memoryview(data)
    key = os.urandom(32)
    offsets = range(0, size, SEGMENT_SIZE)

    def crypt4gh_encrypt() -> None:
        # what crypt4gh.lib.encrypt does per segment (minus the file I/O)
        segment = bytearray(SEGMENT_SIZE)
        cipher = bytearray(CIPHER_SEGMENT_SIZE)
        for offset in offsets:
            segment[:] = view[offset : offset + SEGMENT_SIZE]
            clen = sodium.chacha20poly1305_encrypt(cipher, segment[:SEGMENT_SIZE], key)
            bytes(cipher[:clen])

    encryptor = SegmentEncryptor(key)

    def ours_encrypt() -> None:
        for offset in offsets:
            encryptor.encrypt_segment(view[offset : offset + SEGMENT_SIZE])

    body = encrypt_body(data, key)
    body_view = memoryview(body)
    cipher_offsets = range(0, len(body), CIPHER_SEGMENT_SIZE)

    def crypt4gh_decrypt() -> None:
        segment = bytearray(SEGMENT_SIZE)
        for offset in cipher_offsets:
            plen = sodium.chacha20poly1305_decrypt(
                segment, body[offset : offset + CIPHER_SEGMENT_SIZE], key
            )
            bytes(segment[:plen])

    decryptor = SegmentDecryptor([key])

    def ours_decrypt() -> None:
        for offset in cipher_offsets:
            decryptor.decrypt_segment(body_view[offset : offset + CIPHER_SEGMENT_SIZE])

    def hasher(name: str) -> Callable[[], object]:
        def run() -> object:
            digest = hashlib.new(name)
            for offset in offsets:  # streaming updates, as over upload parts
                digest.update(view[offset : offset + SEGMENT_SIZE])
            return digest.digest()

        return run

    results = {
        "crypt4gh.sodium encrypt (per segment)": best_mib_per_s(size, crypt4gh_encrypt),
        "SegmentEncryptor (cryptography)": best_mib_per_s(size, ours_encrypt),
        "crypt4gh.sodium decrypt (per segment)": best_mib_per_s(size, crypt4gh_decrypt),
        "SegmentDecryptor (cryptography)": best_mib_per_s(size, ours_decrypt),
        "md5": best_mib_per_s(size, hasher("md5")),
        "sha256": best_mib_per_s(size, hasher("sha256")),
    }
    print(f"{size_mib} MiB in memory, best of {REPEATS} runs, plaintext MiB/s")
    for name, speed in results.items():
        print(f"  {name:<40} {speed:8.0f} MiB/s")
    c4gh_enc = results["crypt4gh.sodium encrypt (per segment)"]
    c4gh_dec = results["crypt4gh.sodium decrypt (per segment)"]
    ours_enc = results["SegmentEncryptor (cryptography)"]
    ours_dec = results["SegmentDecryptor (cryptography)"]
    ratios = {
        "ours / crypt4gh, encrypt": ours_enc / c4gh_enc,
        "ours / crypt4gh, decrypt": ours_dec / c4gh_dec,
        "md5 / crypt4gh encrypt": results["md5"] / c4gh_enc,
        "md5 / ours encrypt": results["md5"] / ours_enc,
        "sha256 / crypt4gh encrypt": results["sha256"] / c4gh_enc,
        "sha256 / ours encrypt": results["sha256"] / ours_enc,
        "md5 / sha256": results["md5"] / results["sha256"],
    }
    print("ratios of speeds")
    for name, ratio in ratios.items():
        print(f"  {name:<40} {ratio:8.2f}x")


if __name__ == "__main__":
    main()
