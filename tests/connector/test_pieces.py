"""Input checks, resume records, the bounded parallel runner and the words for states."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from crypt4gh import lib as c4gh_lib

from connector.api.ucs import UploadInfo
from connector.errors import BadInput, TransferFailed
from connector.output import state_words
from connector.transfer import run_bounded
from connector.upload.inputs import alias_problem, collect_files, read_tsv
from connector.upload.resume import ResumeRecord, ResumeStore
from shared.crypt.keys import generate_keypair

# ------------------------------------------------------------------ inputs


def test_collect_files_from_arguments_and_tsv(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_bytes(b"a")
    (tmp_path / "b.bin").write_bytes(b"bb")
    tsv = tmp_path / "list.tsv"
    tsv.write_text("# comment\n\nb.bin\tsample B\n")
    files = collect_files([Path("a.txt")], tsv, 5 * 1024 * 1024)
    assert [(f.path, f.alias, f.size) for f in files] == [
        (Path("a.txt"), "a.txt", 1),
        (Path("b.bin"), "sample B", 2),
    ]


def test_every_problem_is_reported(tmp_path: Path) -> None:
    (tmp_path / "ok").write_bytes(b"ok")
    out = io.BytesIO()
    c4gh_lib.encrypt([(0, generate_keypair()[0], generate_keypair()[1])], io.BytesIO(b"x"), out)
    (tmp_path / "enc").write_bytes(out.getvalue())
    tsv = tmp_path / "t.tsv"
    tsv.write_text(f"{tmp_path / 'ok'}\tok\n{tmp_path / 'ok'}\tagain\n{tmp_path / 'ok'}\t../x\n")
    with pytest.raises(BadInput) as info:
        collect_files([tmp_path / "missing", tmp_path / "enc", tmp_path], tsv, 1)
    message = str(info.value)
    assert message.startswith("Nothing was uploaded:")
    for expected in (
        "missing: no such file",
        "enc: already Crypt4GH-encrypted",
        ": not a regular file",
        "ok: listed twice",
        "the alias must not contain '.' or '..' path segments",
    ):
        assert expected in message


def test_unreadable_file_is_reported(tmp_path: Path, monkeypatch) -> None:
    """The OS refusal is simulated (tests run as root here, which reads anything)."""
    path = tmp_path / "locked"
    path.write_bytes(b"x")
    real_open = Path.open

    def refusing_open(self: Path, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refusing_open)
    with pytest.raises(BadInput, match="locked: cannot be read \\(Permission denied\\)"):
        collect_files([path], None, 1)


def test_tsv_problems(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        read_tsv(tmp_path / "none.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("only-a-path\nx\ty\tz\n")
    with pytest.raises(BadInput, match=r"line 1.*\n.*line 2"):
        read_tsv(bad)


@pytest.mark.parametrize(
    ("alias", "ok"),
    [
        ("sample.bam", True),
        ("dir/file.txt", True),
        ("", False),
        (" x", False),
        ("/abs", False),
        ("a/../b", False),
        ("tab\there", False),
        ("x" * 256, False),
    ],
)
def test_alias_rules(alias: str, ok: bool) -> None:
    assert (alias_problem(alias) is None) is ok


# ------------------------------------------------------------------ resume records


def _record(file_id: str) -> ResumeRecord:
    return ResumeRecord(
        file_id=file_id,
        box_id=str(uuid.uuid4()),
        alias="a.bin",
        storage_alias="archive",
        path="/data/a.bin",
        size=10,
        mtime_ns=5,
        part_size=5_245_120,
        session_key=os.urandom(32),
        header=os.urandom(124),
    )


def test_resume_records_round_trip_privately(tmp_path: Path) -> None:
    store = ResumeStore(tmp_path / "state")
    record = _record(str(uuid.uuid4()))
    store.save(record)
    assert store.load(record.file_id) == record
    assert record.session_key.hex() not in repr(record)
    path = tmp_path / "state" / f"{record.file_id}.json"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    store.delete(record.file_id)
    assert store.load(record.file_id) is None
    store.delete(record.file_id)  # twice is fine


def test_damaged_or_foreign_records_are_ignored(tmp_path: Path) -> None:
    store = ResumeStore(tmp_path)
    file_id = str(uuid.uuid4())
    for content in ("{", "[]", '{"version": 9}', '{"version": 1, "file_id": "x"}'):
        (tmp_path / f"{file_id}.json").write_text(content)
        assert store.load(file_id) is None
    with pytest.raises(ValueError):
        store.save(_record("../../etc/passwd"))


# ------------------------------------------------------------------ the parallel runner


def test_run_bounded_keeps_at_most_concurrency_items() -> None:
    alive = 0
    peak = 0
    lock = threading.Lock()
    items = iter(range(40))
    handled: list[int] = []

    def produce() -> int | None:
        nonlocal alive, peak
        item = next(items, None)
        if item is not None:
            with lock:
                alive += 1
                peak = max(peak, alive)
        return item

    async def handle(item: int) -> None:
        nonlocal alive
        await asyncio.sleep(0)
        handled.append(item)
        with lock:
            alive -= 1

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            await run_bounded(produce, handle, 3, pool)

    asyncio.run(main())
    assert sorted(handled) == list(range(40))
    assert peak <= 3


def test_run_bounded_stops_at_the_first_failure() -> None:
    produced: list[int] = []
    items = iter(range(1000))

    def produce() -> int | None:
        item = next(items, None)
        if item is not None:
            produced.append(item)
        return item

    async def handle(item: int) -> None:
        if item == 2:
            raise TransferFailed("part 3 refused")
        await asyncio.sleep(0.01)

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            await run_bounded(produce, handle, 2, pool)

    with pytest.raises(TransferFailed, match="part 3 refused"):
        asyncio.run(main())
    assert len(produced) < 10


def test_producer_errors_surface_as_themselves() -> None:
    def produce() -> int | None:
        raise TransferFailed("The file shrank while it was being uploaded.")

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            await run_bounded(produce, lambda item: asyncio.sleep(0), 2, pool)

    with pytest.raises(TransferFailed, match="shrank"):
        asyncio.run(main())


# ------------------------------------------------------------------ states


@pytest.mark.parametrize(
    ("state", "reason", "words"),
    [
        ("init", None, "uploading"),
        ("inbox", None, "inbox"),
        ("interrogated", None, "accepted"),
        ("failed", "checksum mismatch", "rejected: checksum mismatch"),
        ("failed", None, "rejected"),
        ("cancelled", "deleted by the submitter", "cancelled"),
        ("registered", None, "registered"),
        ("future", None, "future"),
    ],
)
def test_state_words(state: str, reason: str | None, words: str) -> None:
    info = UploadInfo("id", "alias", 1, 2, 3, 1, state, reason)
    assert state_words(info) == words


def test_the_active_upload_of_an_alias_wins() -> None:
    from connector.upload.batch import by_alias

    def info(file_id: str, alias: str, state: str) -> UploadInfo:
        return UploadInfo(file_id, alias, 1, 2, 3, 1, state, None)

    chosen = by_alias(
        [
            info("1", "a", "cancelled"),
            info("2", "a", "inbox"),
            info("3", "a", "failed"),
            info("4", "b", "cancelled"),
            info("5", "b", "failed"),
        ]
    )
    assert {alias: i.id for alias, i in chosen.items()} == {"a": "2", "b": "5"}
