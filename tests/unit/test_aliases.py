"""The alias rules UCS and the connector share (shared.multipart.alias_problem).

An accepted alias must be a relative path that stays one file inside any directory it is
put in, on Windows as on POSIX: the properties below check that against both path
flavours of the standard library and against this machine's file system.
"""

from __future__ import annotations

import ntpath
import posixpath
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.multipart import (
    MAX_ALIAS_LENGTH,
    MAX_SEGMENT_BYTES,
    WINDOWS_RESERVED,
    alias_problem,
    name_problem,
)

SETTINGS = settings(max_examples=400, deadline=None, derandomize=True)

# names people give files, and separators, dots and spaces where they do harm
_HOSTILE_PIECES = st.sampled_from(
    ["/", "\\", "..", ".", " ", ":", "C:", "con", "NUL", "com1", "lpt9", "~", "$", "\x00"]
)
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=40)
ALIASES = st.lists(st.one_of(_HOSTILE_PIECES, _TEXT), min_size=1, max_size=8).map("".join)

_SAFE_CHARS = st.sampled_from("abcXYZ019_-+=,;@#%&()[]{}'!~é中🧬")
SAFE_SEGMENTS = st.builds(
    lambda head, tail: head + tail,
    st.text(_SAFE_CHARS, min_size=1, max_size=20),
    st.text(st.sampled_from("abc019_-.é"), max_size=10).filter(lambda t: not t.endswith(".")),
).filter(lambda name: name.split(".", 1)[0].upper() not in WINDOWS_RESERVED)
SAFE_ALIASES = st.lists(SAFE_SEGMENTS, min_size=1, max_size=6).map("/".join)


def _stays_inside(alias: str) -> None:
    """What an accepted alias must be on both systems: relative, one name per segment."""
    segments = alias.split("/")
    for flavour in (PurePosixPath, PureWindowsPath):
        path = flavour(alias)
        assert not path.is_absolute() and not path.drive and not path.anchor, flavour
        assert list(path.parts) == segments, flavour  # nothing merged, dropped or split
    base_posix, base_windows = "/srv/out", "C:\\out"
    assert posixpath.normpath(posixpath.join(base_posix, alias)).startswith(base_posix + "/")
    joined = ntpath.normpath(ntpath.join(base_windows, alias.replace("/", "\\")))
    assert joined.startswith(base_windows + "\\")
    assert joined.count("\\") == base_windows.count("\\") + len(segments)
    for segment in segments:
        assert segment.split(".", 1)[0].rstrip(" ").upper() not in WINDOWS_RESERVED
        assert not segment.endswith((".", " ")) and len(segment.encode()) <= MAX_SEGMENT_BYTES


@SETTINGS
@given(ALIASES)
def test_every_accepted_alias_stays_inside_its_directory(alias: str) -> None:
    if alias_problem(alias) is None:
        _stays_inside(alias)


@SETTINGS
@given(SAFE_ALIASES)
def test_plain_relative_paths_are_accepted(alias: str) -> None:
    if len(alias) <= MAX_ALIAS_LENGTH:
        assert alias_problem(alias) is None, alias
        _stays_inside(alias)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(SAFE_ALIASES)
def test_accepted_aliases_are_files_under_the_directory_here(tmp_path: Path, alias: str) -> None:
    """On this machine's file system, too: the file lands where the alias says."""
    base = Path(tempfile.mkdtemp(dir=tmp_path)) / "out"
    target = base.joinpath(*alias.split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"x")
    assert target.resolve().is_relative_to(base.resolve())
    assert target.resolve().relative_to(base.resolve()).as_posix() == alias


@pytest.mark.parametrize(
    "alias",
    [
        "a",
        "reads/sample_1.fastq.gz",
        "dir/.hidden",
        "Ünïcode name.txt",
        "x" * MAX_SEGMENT_BYTES,
        "/".join(["x" * 63] * 4),  # 255 characters in four segments
        "a..b",
        "console.log",  # a device name only as a whole stem
        "com10.txt",
        "sub/lpt.txt",
        "my con.txt",
    ],
)
def test_acceptable_aliases(alias: str) -> None:
    assert alias_problem(alias) is None


@pytest.mark.parametrize(
    ("alias", "why"),
    [
        ("", "1 to 255"),
        ("x/" * 127 + "xy", "1 to 255"),
        ("x" * (MAX_SEGMENT_BYTES + 1), "bytes"),
        ("é" * (MAX_SEGMENT_BYTES // 2 + 1), "bytes"),  # two UTF-8 bytes each
        ("C:/x", "Windows forbids"),
        ("C:x", "Windows forbids"),
        ("c:\\x", "'\\'"),
        ("\\\\server\\share\\f", "slash"),
        ("/abs", "slash"),
        ("sub\\f", "'\\'"),
        ("sub/../f", "'..'"),
        ("..", "'..'"),
        ("./f", "'.'"),
        ("a/.", "'.'"),
        ("a//b", "empty"),
        ("a/", "empty"),
        ("con", "device"),
        ("CON", "device"),
        ("Con.txt", "device"),
        ("sub/nul.tar.gz", "device"),
        ("aux", "device"),
        ("prn.x", "device"),
        ("COM1", "device"),
        ("lpt9.log", "device"),
        ("com0", "device"),
        ("COM\u00b9", "device"),
        ("nul .txt", "device"),
        ("conin$", "device"),
        ("f.", "dot"),
        ("sub./f", "dot"),
        ("f ", "space"),
        (" f", "space"),
        ("sub /f", "space"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("a\x7fb", "control"),
        ("a\u200bb", "control"),
        ("a\u202eb", "control"),  # right-to-left override
        ("a<b", "Windows forbids"),
        ("a>b", "Windows forbids"),
        ('a"b', "Windows forbids"),
        ("a|b", "Windows forbids"),
        ("a?b", "Windows forbids"),
        ("a*b", "Windows forbids"),
        ("file:stream", "Windows forbids"),
    ],
)
def test_unacceptable_aliases(alias: str, why: str) -> None:
    problem = alias_problem(alias)
    assert problem is not None and why in problem, problem


@pytest.mark.parametrize("name", ["a/b", "..", "nul", "x:y", ""])
def test_a_name_is_a_single_safe_segment(name: str) -> None:
    assert name_problem(name)
