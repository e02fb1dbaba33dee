"""``fs-connector``: upload files to the archive, list and delete uploads, download and
decrypt files.

Thin: gathers options, keys and the access token, runs a command from connector.commands
and turns its result or error into output and an exit code (see connector.errors).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from connector import __version__, commands
from connector.config import Settings, load_settings
from connector.download.decrypt import decrypt_files, plan_decryption
from connector.download.downloader import DownloadOptions
from connector.errors import EXIT_CODES_HELP, BadInput, ConnectorError, ExitCode
from connector.keys import KeyPair, load_keypair, load_private_key
from connector.output import listing_json, listing_table, summarize
from connector.progress import Reporter
from connector.prompts import WPAT_ENV, hidden_prompt, read_access_token
from connector.upload.inputs import collect_files

EPILOG = (
    f"{EXIT_CODES_HELP} Environment: {WPAT_ENV} (access token), FS_CONNECTOR_PASSPHRASE "
    "(private key passphrase), FS_CONNECTOR_WKVS_URL, FS_CONNECTOR_PART_SIZE, "
    "FS_CONNECTOR_CONCURRENCY, FS_CONNECTOR_MAX_MEMORY, FS_CONNECTOR_RETRIES, "
    "FS_CONNECTOR_TIMEOUT, FS_CONNECTOR_RANGE_SIZE, FS_CONNECTOR_MAX_WAIT, "
    "FS_CONNECTOR_STATE_DIR, FS_CONNECTOR_CONFIG (TOML file, default "
    "~/.config/fs-connector/config.toml). Options override environment, environment "
    "overrides the config file."
)

app = typer.Typer(
    name="fs-connector",
    help=(
        "Move files into the archive and out of it: encrypted end to end, transferred in "
        "parallel, resumable."
    ),
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PublicKey = Annotated[
    Path | None, typer.Option("--my-public-key-path", help="Your Crypt4GH public key.")
]
PrivateKey = Annotated[
    Path | None, typer.Option("--my-private-key-path", help="Your Crypt4GH private key.")
]
WkvsUrl = Annotated[str | None, typer.Option("--wkvs-url", help="Well-known values URL.")]
Retries = Annotated[int | None, typer.Option("--retries", help="Retries per request.")]
Timeout = Annotated[float | None, typer.Option("--timeout", help="Seconds per request.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")]
MaxMemory = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        help=(
            "Bytes of file data held in memory at once, e.g. 2GiB (the default). Parts in "
            "flight per file are min(--concurrency, max(1, this / part size)): large parts "
            "mean fewer at once, never fewer than one (at 2GiB, fewer than 8 only for parts "
            "above 256 MiB, i.e. files above about 2.4 TiB). Downloads hold 1 MiB per range "
            "in flight, whatever --range-size."
        ),
    ),
]


def _prepare(options: dict[str, Any]) -> tuple[Settings, KeyPair]:
    settings = load_settings(options)
    keys = load_keypair(
        settings.my_public_key_path, settings.my_private_key_path, prompt=hidden_prompt
    )
    return settings, keys


UPLOAD_INTERRUPTED = (
    "Interrupted. Unfinished uploads are kept: run the same command again to resume."
)


def _execute(
    reporter: Reporter, work: Callable[[], int], interrupted: str = UPLOAD_INTERRUPTED
) -> None:
    """Run a command; map its errors to messages and exit codes, never a traceback."""
    try:
        code = work()
    except ConnectorError as error:
        reporter.error(error.message)
        code = error.exit_code
    except KeyboardInterrupt:
        reporter.error(interrupted)
        code = ExitCode.INTERRUPTED
    except Exception as error:  # a bug: say so briefly, without a traceback
        if os.environ.get("FS_CONNECTOR_DEBUG"):
            raise
        reporter.error(
            f"Unexpected error ({type(error).__name__}); set FS_CONNECTOR_DEBUG=1 for details."
        )
        code = ExitCode.FAILED
    raise typer.Exit(int(code))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fs-connector {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Move files into the archive."""


@app.command(epilog=EPILOG)
def upload(
    files: Annotated[list[Path] | None, typer.Argument(help="Files to upload.")] = None,
    tsv: Annotated[
        Path | None, typer.Option("--tsv", help="TSV of <path><TAB><alias> lines.")
    ] = None,
    my_public_key_path: PublicKey = None,
    my_private_key_path: PrivateKey = None,
    wkvs_url: WkvsUrl = None,
    part_size: Annotated[
        str | None, typer.Option("--part-size", help="Part size, e.g. 64MiB.")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", help="Parts in flight at most (see --max-memory)."),
    ] = None,
    max_memory: MaxMemory = None,
    retries: Retries = None,
    timeout: Timeout = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="Where resume records are kept.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Encrypt and upload files; run it again after an interruption to resume."""
    reporter = Reporter(quiet)

    def work() -> int:
        settings, keys = _prepare(
            {
                "my_public_key_path": my_public_key_path,
                "my_private_key_path": my_private_key_path,
                "wkvs_url": wkvs_url,
                "part_size": part_size,
                "concurrency": concurrency,
                "max_memory": max_memory,
                "retries": retries,
                "timeout": timeout,
                "state_dir": state_dir,
            }
        )
        items = collect_files(list(files or []), tsv, settings.part_size)
        settings.require_wkvs_url()
        access = read_access_token(keys)
        result = asyncio.run(commands.upload(settings, keys, access, items, reporter))
        return summarize(result, reporter)

    _execute(reporter, work)


@app.command("ls", epilog=EPILOG)
def list_uploads(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    my_public_key_path: PublicKey = None,
    my_private_key_path: PrivateKey = None,
    wkvs_url: WkvsUrl = None,
    retries: Retries = None,
    timeout: Timeout = None,
    quiet: Quiet = False,
) -> None:
    """List the uploads in your upload box."""
    reporter = Reporter(quiet)

    def work() -> int:
        settings, keys = _prepare(
            {
                "my_public_key_path": my_public_key_path,
                "my_private_key_path": my_private_key_path,
                "wkvs_url": wkvs_url,
                "retries": retries,
                "timeout": timeout,
            }
        )
        settings.require_wkvs_url()
        access = read_access_token(keys)
        infos = asyncio.run(commands.list_uploads(settings, keys, access))
        if as_json:
            typer.echo(listing_json(infos))
            return ExitCode.OK
        for line in listing_table(infos):
            typer.echo(line)
        if not infos:
            reporter.info("The upload box is empty.")
        return ExitCode.OK

    _execute(reporter, work)


@app.command(epilog=EPILOG)
def delete(
    file_id: Annotated[str, typer.Option("--file-id", help="The upload to delete.")],
    my_public_key_path: PublicKey = None,
    my_private_key_path: PrivateKey = None,
    wkvs_url: WkvsUrl = None,
    retries: Retries = None,
    timeout: Timeout = None,
    quiet: Quiet = False,
) -> None:
    """Delete one upload (an unfinished one, or a file not yet registered)."""
    reporter = Reporter(quiet)

    def work() -> int:
        try:
            canonical = str(uuid.UUID(file_id))
        except ValueError:
            raise BadInput(f"{file_id!r} is not a file id (a UUID).") from None
        settings, keys = _prepare(
            {
                "my_public_key_path": my_public_key_path,
                "my_private_key_path": my_private_key_path,
                "wkvs_url": wkvs_url,
                "retries": retries,
                "timeout": timeout,
            }
        )
        settings.require_wkvs_url()
        access = read_access_token(keys)
        asyncio.run(commands.delete_upload(settings, keys, access, canonical))
        reporter.info(f"Deleted upload {canonical}.")
        return ExitCode.OK

    _execute(reporter, work)


@app.command(epilog=EPILOG)
def download(
    output_dir: Annotated[
        Path, typer.Option("--output-dir", help="Existing directory for the files.")
    ] = Path("."),
    file_id: Annotated[
        list[str] | None,
        typer.Option("--file-id", help="Download only this file (repeatable); default: all."),
    ] = None,
    decrypt: Annotated[
        bool,
        typer.Option(
            "--decrypt/--no-decrypt",
            help="Write the decrypted file instead of <id>.c4gh (see --keep-encrypted).",
        ),
    ] = False,
    keep_encrypted: Annotated[
        bool,
        typer.Option(
            "--keep-encrypted/--no-keep-encrypted",
            help="With --decrypt, also keep the encrypted <id>.c4gh.",
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify/--no-verify",
            help="Decrypt on the fly (nothing written) to check the archive's sha-256.",
        ),
    ] = True,
    overwrite: Annotated[
        bool, typer.Option("--overwrite/--no-overwrite", help="Replace existing files.")
    ] = False,
    max_wait: Annotated[
        float | None,
        typer.Option(
            "--max-wait",
            help=(
                "Seconds to wait for the archive to stage a file. Default: scaled with the "
                "file's size, 3600 + size / 100 MiB/s (about 16 hours for 5 TiB)."
            ),
        ),
    ] = None,
    range_size: Annotated[
        str | None, typer.Option("--range-size", help="Bytes per range request, e.g. 64MiB.")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", help="Ranges in flight at most (see --max-memory)."),
    ] = None,
    max_memory: MaxMemory = None,
    my_public_key_path: PublicKey = None,
    my_private_key_path: PrivateKey = None,
    wkvs_url: WkvsUrl = None,
    retries: Retries = None,
    timeout: Timeout = None,
    quiet: Quiet = False,
) -> None:
    """Download the files of a work package as <id>.c4gh (with --decrypt: decrypted); run
    it again to resume."""
    reporter = Reporter(quiet)

    def work() -> int:
        if not output_dir.is_dir():
            raise BadInput(f"The output directory {output_dir} does not exist.")
        settings, keys = _prepare(
            {
                "my_public_key_path": my_public_key_path,
                "my_private_key_path": my_private_key_path,
                "wkvs_url": wkvs_url,
                "range_size": range_size,
                "concurrency": concurrency,
                "max_memory": max_memory,
                "retries": retries,
                "timeout": timeout,
                "max_wait": max_wait,
            }
        )
        settings.require_wkvs_url()
        access = read_access_token(keys)
        options = DownloadOptions(
            output_dir,
            settings.range_size,
            settings.concurrency,
            verify,
            decrypt,
            max_memory=settings.max_memory,
            keep_encrypted=keep_encrypted,
            overwrite=overwrite,
        )
        result = asyncio.run(
            commands.download(
                settings, keys, access, options, list(file_id or []), overwrite, reporter
            )
        )
        return summarize(result, reporter)

    _execute(
        reporter,
        work,
        "Interrupted. Partial downloads are kept: run the same command again to resume.",
    )


@app.command("decrypt", epilog=EPILOG)
def decrypt_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Crypt4GH files, or directories of .c4gh files.")
    ] = None,
    input_dir: Annotated[
        Path | None, typer.Option("--input-dir", help="A directory of .c4gh files.")
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", help="Where to write (default: beside each input)."),
    ] = None,
    expect_sha256: Annotated[
        str | None,
        typer.Option("--expect-sha256", help="The plaintext's SHA-256 (one file only)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite/--no-overwrite", help="Replace existing files.")
    ] = False,
    my_private_key_path: PrivateKey = None,
    quiet: Quiet = False,
) -> None:
    """Decrypt downloaded Crypt4GH files with your private key (no network needed)."""
    reporter = Reporter(quiet)

    def work() -> int:
        settings = load_settings({"my_private_key_path": my_private_key_path})
        private_key = load_private_key(settings.my_private_key_path, prompt=hidden_prompt)
        inputs = list(paths or []) + ([input_dir] if input_dir is not None else [])
        jobs = plan_decryption(inputs, output_dir, private_key, overwrite, expect_sha256)
        return summarize(decrypt_files(jobs, reporter, expect_sha256), reporter)

    _execute(reporter, work, "Interrupted. Files not completely decrypted were removed.")


def main() -> None:
    """Console script entry point."""
    app()
