"""How the harness invokes each client: our fs-connector and GHGA's ghga-connector 4.x.

Both get the same part size and the same number of transfers in flight, so that the
comparison is of the clients and not of their defaults; a Transfer without them (the
"defaults" figures) leaves each client at its own. GHGA's client reads the access token
from stdin and needs no controlling terminal for it (docs/ghga-wire-format.md §1). A
Transfer with cores starts the client under ``taskset`` (bench/pinning.py).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import measure, pinning
from bench.stack import BenchStack, BenchUser

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GHGA_BIN = REPO / ".venv-ghga" / "bin"


class ToolMissing(RuntimeError):
    """A client to compare with is not installed; the message says how to install it."""


def ghga_bin(name: str) -> Path:
    path = GHGA_BIN / name
    if not path.exists():
        raise ToolMissing(f"{path} is missing: run `make install` (it creates .venv-ghga)")
    return path


@dataclass(frozen=True)
class Transfer:
    part_size: int | None  # upload part size and download range size; None: the client's
    concurrency: int | None  # parts or ranges in flight; None: the client's default
    cores: frozenset[int] | None = None  # where the measured client runs; None: anywhere

    def argv(self, argv: list[str]) -> list[str]:
        return pinning.client_argv(argv, self.cores)


def _settings(env: dict[str, str], values: dict[str, int | None]) -> dict[str, str]:
    """Only the settings that are given: the rest stay the client's defaults."""
    env.update({name: str(value) for name, value in values.items() if value is not None})
    return env


def _clean_env() -> dict[str, str]:
    drop = ("FS_CONNECTOR_", "GHGA_CONNECTOR_", "AWS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    for proxy in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(proxy, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def fs_env(stack: BenchStack, user: BenchUser, wpat: str, state: Path, t: Transfer) -> dict:
    env = _clean_env()
    env.update(
        {
            "HOME": str(state),
            "XDG_STATE_HOME": str(state / "xdg"),
            "FS_CONNECTOR_WPAT": wpat,
            "FS_CONNECTOR_WKVS_URL": stack.endpoints["wkvs_url"],
            "FS_CONNECTOR_MY_PUBLIC_KEY_PATH": str(user.public_path),
            "FS_CONNECTOR_MY_PRIVATE_KEY_PATH": str(user.private_path),
            "FS_CONNECTOR_STATE_DIR": str(state / "resume"),
            "FS_CONNECTOR_MAX_WAIT": "900",
        }
    )
    return _settings(
        env,
        {
            "FS_CONNECTOR_PART_SIZE": t.part_size,
            "FS_CONNECTOR_RANGE_SIZE": t.part_size,
            "FS_CONNECTOR_CONCURRENCY": t.concurrency,
        },
    )


def fs_upload(stack: BenchStack, user: BenchUser, wpat: str, path: Path, work: Path, t: Transfer):
    """Start ``fs-connector upload`` of one file (the caller finishes the measurement)."""
    work.mkdir(parents=True, exist_ok=True)
    env = fs_env(stack, user, wpat, work, t)
    argv = [str(BIN / "fs-connector"), "upload", str(path), "--quiet"]
    return measure.start(t.argv(argv), env=env)


def fs_download_start(
    stack: BenchStack, user: BenchUser, wpat: str, out: Path, work: Path, t: Transfer
):
    """Start ``fs-connector download --decrypt`` (the caller finishes the measurement)."""
    out.mkdir(parents=True, exist_ok=True)
    env = fs_env(stack, user, wpat, work, t)
    argv = [str(BIN / "fs-connector"), "download", "--output-dir", str(out), "--decrypt"]
    return measure.start(t.argv([*argv, "--quiet"]), env=env)


def fs_download(
    stack: BenchStack, user: BenchUser, wpat: str, out: Path, work: Path, t: Transfer
) -> measure.Measured:
    """``fs-connector download --decrypt``: parallel ranges, verified, plaintext written."""
    child = fs_download_start(stack, user, wpat, out, work, t)
    return measure.finish(*child).check("fs-connector download")


def ghga_env(stack: BenchStack, t: Transfer) -> dict[str, str]:
    env = _clean_env()
    env.update(
        {
            "GHGA_CONNECTOR_WKVS_API_URL": stack.endpoints["wkvs_url"],
            "GHGA_CONNECTOR_CLIENT_NUM_RETRIES": "3",
            "GHGA_CONNECTOR_MAX_WAIT_TIME": "900",
            "COLUMNS": "200",
        }
    )
    return _settings(
        env,
        {
            "GHGA_CONNECTOR_PART_SIZE": t.part_size,
            "GHGA_CONNECTOR_MAX_CONCURRENT_UPLOADS": t.concurrency,
            "GHGA_CONNECTOR_MAX_CONCURRENT_DOWNLOADS": t.concurrency,
        },
    )


def _keys(user: BenchUser) -> list[str]:
    return [
        "--my-public-key-path",
        str(user.public_path),
        "--my-private-key-path",
        str(user.private_path),
    ]


def ghga_upload(
    stack: BenchStack, user: BenchUser, wpat: str, path: Path, work: Path, t: Transfer
) -> measure.Measured:
    work.mkdir(parents=True, exist_ok=True)
    tsv = work / "files.tsv"
    tsv.write_text(f"{path}\t{path.name}\n")
    argv = [str(ghga_bin("ghga-connector")), "batch-upload", "--tsv", str(tsv), *_keys(user)]
    result = measure.run(
        t.argv(argv), env=ghga_env(stack, t), cwd=work, stdin=wpat + "\n", new_session=True
    )
    return result.check("ghga-connector batch-upload", "All files uploaded successfully")


def ghga_download(
    stack: BenchStack, user: BenchUser, wpat: str, out: Path, work: Path, t: Transfer
) -> tuple[measure.Measured, measure.Measured]:
    """``ghga-connector download`` then ``decrypt``: what it takes GHGA's client to get
    the same plaintext (it checks nothing while downloading)."""
    encrypted, plain = out / "encrypted", out / "plain"
    encrypted.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    env = ghga_env(stack, t)
    fetched = measure.run(
        t.argv(
            [
                str(ghga_bin("ghga-connector")),
                "download",
                "--output-dir",
                str(encrypted),
                *_keys(user),
            ]
        ),
        env=env,
        cwd=work,
        stdin=wpat + "\n",
        new_session=True,
    ).check("ghga-connector download")
    if not any(encrypted.glob("*.c4gh")):
        raise measure.BenchError(f"ghga-connector download wrote nothing: {fetched.stderr[-800:]}")
    decrypted = measure.run(
        t.argv(
            [
                str(ghga_bin("ghga-connector")),
                "decrypt",
                "--input-dir",
                str(encrypted),
                "--output-dir",
                str(plain),
                "--my-private-key-path",
                str(user.private_path),
            ]
        ),
        env=env,
        cwd=work,
        new_session=True,
    ).check("ghga-connector decrypt")
    return fetched, decrypted
