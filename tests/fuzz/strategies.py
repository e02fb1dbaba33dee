"""Hostile requests for every route: hypothesis strategies over paths, headers, bodies.

A request is drawn from a route's table entry (method and path template), the world's
real ids, keys and tokens mixed with hostile values: small-order and malformed keys,
sizes at and past every limit, part numbers of every shape, ranges, content types, deep
and wide JSON, bytes that are no JSON at all. Bodies are built from the field names of
the service's wire models (so that they reach validation and the core), with values that
are anything JSON can carry.
"""

from __future__ import annotations

import base64
import json
import re
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st
from pydantic import BaseModel

_P = 2**255 - 19
# encodings of the points of small order (and their non-canonical twins): never accepted
LOW_ORDER_KEYS = [
    base64.b64encode(u.to_bytes(32, "little")).decode()
    for u in (
        0,
        1,
        _P - 1,
        _P,
        _P + 1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
        2**255,  # 0 with the ignored top bit set
    )
]
MALFORMED_KEYS = [
    "",
    "=",
    "AAAA",
    "A" * 43,
    base64.b64encode(b"\x01" * 31).decode(),
    base64.b64encode(b"\x01" * 33).decode(),
    "not base64 at all!",
    "-" * 44,
    "%2F" * 10,
]
HOSTILE_TEXT = [
    "",
    " ",
    "..",
    "../../etc/passwd",
    "sub/../f",
    "C:/x",
    "con",
    "NUL.txt",
    "a" * 5000,
    "\u202e\u0000",
    "💥",
    "%00",
    "%2e%2e%2f",
    "{file_id}",
    "null",
    "true",
    "-1",
    "0",
    "1e309",
    "9" * 5000,
    "' OR 1=1 --",
    "<script>",
    "${jndi:ldap://x}",
]
SIZES = [0, 1, -1, 2**31, 2**63, 2**64, 5 * 2**40, 5 * 2**40 + 1, 16 * 2**20, 10**30]
PART_NUMBERS = [
    "0",
    "1",
    "2",
    "10000",
    "10001",
    "-1",
    "1.5",
    "0x1",
    "1e3",
    " 1",
    "٣",
    "99999999999",
]
RANGES = [
    "bytes=0-0",
    "bytes=0-",
    "bytes=-1",
    "bytes=-0",
    "bytes=5-1",
    "bytes=0-1,2-3",
    "bytes=99999999999999999999-",
    "bytes=abc",
    "items=0-1",
    "bytes=" + "0" * 5000 + "-1",
    "bytes= 0 - 1",
    "",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "application/xml",
    "*/*",
    "",
    "garbage",
    "application/json; charset=ebcdic",
]
ACCEPTS = ["*/*", "application/json", "application/octet-stream", "text/html", "", "x/y;q=0"]

_printable = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80
)  # header values: what an HTTP client can send


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(SIZES),
        st.floats(allow_nan=False),
        st.text(max_size=40),
        st.sampled_from(HOSTILE_TEXT),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def model_fields(module: Any) -> list[str]:
    """Every field name of the pydantic models a wire module defines: the body keys."""
    names: set[str] = set()
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
            names.update(value.model_fields)
    return sorted(names)


def _field_value(name: str, world: Any) -> st.SearchStrategy[Any]:
    """Values that a field of this name is most likely to be hurt by, and anything else."""
    hints: list[st.SearchStrategy[Any]] = [json_values(6)]
    if re.search(r"size|limit|skip|count|number|lifetime|days", name):
        hints.append(st.sampled_from(SIZES) | st.integers(min_value=-10, max_value=2**20))
    if "key" in name:
        hints.append(st.sampled_from(LOW_ORDER_KEYS + MALFORMED_KEYS + world.keys))
    if re.search(r"sha256|md5|checksum", name):
        hints.append(
            st.sampled_from(["a" * 64, "A" * 64, "g" * 64, "a" * 32, "", "a" * 63])
            | st.lists(st.sampled_from(["a" * 64, "b" * 32, "x", ""]), max_size=5)
        )
    if re.search(r"_ids?$|^id$", name):
        hints.append(
            st.sampled_from(world.ids)
            | st.lists(st.sampled_from(world.ids + HOSTILE_TEXT), max_size=3)
        )
    if re.search(r"alias|name|description|reason|extension", name):
        hints.append(st.sampled_from(HOSTILE_TEXT) | st.text(max_size=300))
    if re.search(r"type|work", name):
        hints.append(
            st.sampled_from(["upload", "download", "create", "close", "delete", "view", "x", ""])
        )
    return st.one_of(hints)


def _typed(name: str, info: Any, world: Any) -> st.SearchStrategy[Any]:
    """A value of the field's own type, mostly well formed (past validation, into the
    core), at times anything (``_field_value``)."""
    annotation = str(info.annotation)
    literals = re.findall(r"'([^']*)'", annotation) if "Literal" in annotation else []
    typed: list[st.SearchStrategy[Any]] = []
    if literals:
        typed.append(st.sampled_from(literals))
    elif "bool" in annotation:
        typed.append(st.booleans())
    elif "int" in annotation:
        typed.append(st.sampled_from(SIZES) | st.integers(min_value=0, max_value=2**24))
    elif "list" in annotation:
        element = (
            st.sampled_from(["a" * 64, "0" * 64])
            if "sha256" in name
            else st.sampled_from(["a" * 32, "0" * 32])
            if "md5" in name
            else st.sampled_from(world.ids or ["x"])
        )
        typed.append(st.lists(element, max_size=4))
    elif "dict" in annotation:
        typed.append(
            st.dictionaries(st.sampled_from(world.ids or ["x"]), st.sampled_from([".c4gh", "x"]))
        )
    elif "sha256" in name:
        typed.append(st.just("a" * 64))
    elif "md5" in name:
        typed.append(st.sampled_from(["a" * 32 + "-1", "a" * 32]))
    elif "key" in name and world.keys:
        typed.append(st.sampled_from(world.keys))
    elif re.search(r"_id$", name) and world.ids:
        typed.append(st.sampled_from(world.ids))
    else:
        typed.append(st.sampled_from(["a.txt", "dir/b.c4gh", "x"]) | st.text(max_size=20))
    return st.one_of(*typed, *typed, _field_value(name, world))


def typed_bodies(module: Any, world: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies shaped like one of the module's models: required fields always there."""
    shapes = []
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
            if value.__module__ != module.__name__:
                continue
            fields = value.model_fields
            shapes.append(
                st.fixed_dictionaries(
                    {n: _typed(n, f, world) for n, f in fields.items() if f.is_required()},
                    optional={
                        n: _typed(n, f, world) for n, f in fields.items() if not f.is_required()
                    },
                )
            )
    return st.one_of(shapes) if shapes else st.just({})


def bodies(world: Any, fields: list[str], module: Any = None) -> st.SearchStrategy[bytes | None]:
    """Request bodies: shaped like the service's models or field names, any JSON, or not
    JSON."""
    shaped = (
        st.lists(st.sampled_from(fields), unique=True, max_size=len(fields)).flatmap(
            lambda keys: st.fixed_dictionaries({k: _field_value(k, world) for k in keys})
        )
        if fields
        else st.just({})
    )
    typed = typed_bodies(module, world) if module is not None else shaped
    as_json = st.one_of(typed, typed, shaped, json_values()).map(lambda v: json.dumps(v).encode())
    hostile = st.sampled_from(HOSTILE_BODIES)
    return st.one_of(st.none(), as_json, as_json, hostile, st.binary(max_size=64))


HOSTILE_BODIES = [
    b"[" * 100_000 + b"]" * 100_000,  # past the recursion limit
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b"[" * 40 + b"]" * 40,  # deeper than any body of ours
    b'{"max_size": ' + b"9" * 5000 + b"}",  # past int()'s digit limit
    b"\xff\xfe\x00",
    b"alias=x&decrypted_size=1",
    b"null",
    b"",
    b'"just a string"',
    b"\x00" * 64,
    json.dumps({"a": "b" * 200_000}).encode(),
    b'{"a": NaN}',
    b'{"a": Infinity, "b": -Infinity}',
    b'{"a": 1, "a": 2}',
]


@dataclass(frozen=True)
class Draw:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes | None


def _param(world: Any, name: str) -> st.SearchStrategy[str]:
    real = world.params.get(name, [])
    options: list[st.SearchStrategy[str]] = [st.sampled_from(HOSTILE_TEXT), st.text(max_size=30)]
    if world.ids:
        options.append(st.sampled_from(world.ids))
    if name == "part_no":
        options.append(st.sampled_from(PART_NUMBERS))
    if "pk" in name or "key" in name:
        options.append(st.sampled_from(LOW_ORDER_KEYS + MALFORMED_KEYS + world.keys))
        options.append(
            st.sampled_from(world.keys + LOW_ORDER_KEYS).map(
                lambda k: base64.urlsafe_b64encode(base64.b64decode(k)).decode().rstrip("=")
            )
        )
    if real:  # the right id half of the time: past the token checks, into the core
        return st.one_of(
            st.sampled_from(real), st.sampled_from(real), st.one_of(options).filter(bool)
        )
    # an empty segment matches no route: the gateway answers before any app (the stack's
    # runtime with our body, tests/fuzz/test_stack.py; Chalice's local gateway with its own)
    return st.one_of(options).filter(bool)


def _authorization(world: Any) -> st.SearchStrategy[dict[str, str]]:
    if not world.tokens:
        return st.fixed_dictionaries({}, optional={"authorization": _printable})
    valid = st.sampled_from(world.tokens)
    hostile = st.one_of(
        valid.map(lambda t: f"bearer  {t} "),
        valid.map(lambda t: f"Basic {t}"),
        valid.map(lambda t: f"Bearer {t[:-2]}xx"),  # a signature that does not verify
        st.sampled_from(
            ["Bearer", "Bearer ", "", "Bearer a.b.c", "Bearer eyJhbGciOiJub25lIn0.e30."]
        ),
        _printable,
    )
    # a valid token most of the time: the attacker holds one
    return st.one_of(
        valid.map(lambda t: {"authorization": f"Bearer {t}"}),
        valid.map(lambda t: {"authorization": f"Bearer {t}"}),
        valid.map(lambda t: {"authorization": f"Bearer {t}"}),
        hostile.map(lambda v: {"authorization": v}),
        st.just({}),
    )


def requests(
    world: Any, path: str, methods: list[str], fields: list[str], module: Any = None
) -> st.SearchStrategy[Draw]:
    """One hostile request to a route (``path`` is Chalice's template, ``/a/{b}``)."""
    names = re.findall(r"{(\w+)}", path)

    @st.composite
    def draw(draw_: Any) -> Draw:
        # now and then a method the route does not have: 405, in our body too
        method = draw_(st.sampled_from(methods * 8 + ["PUT"]))
        url = path
        for name in names:
            url = url.replace("{" + name + "}", quote(draw_(_param(world, name)), safe=""), 1)
        query = draw_(
            st.dictionaries(
                st.sampled_from(["skip", "limit", "sha256", "x", "part_checksum", ""]),
                st.one_of(
                    st.sampled_from(["0", "-1", "101", "a" * 64, "9" * 5000, ""]),
                    st.text(max_size=20),
                ),
                max_size=3,
            )
        )
        if query:
            url += "?" + urlencode(query)
        headers = dict(draw_(_authorization(world)))
        optional = {
            # JSON (or none) mostly, so that most draws get past the content type check
            "content-type": st.sampled_from(CONTENT_TYPES[:2] * 4 + CONTENT_TYPES),
            "range": st.sampled_from(RANGES),
            "x-service-token": st.sampled_from([*world.tokens, "", "x"])
            if world.tokens
            else _printable,
            "x-work-order-token": st.sampled_from([*world.tokens, "", "x"])
            if world.tokens
            else _printable,
            "x-amz-date": _printable,
        }
        headers.update(draw_(st.fixed_dictionaries({}, optional=optional)))
        # Accept mostly there and binary-friendly: /assembled answers only such requests
        accept = draw_(st.sampled_from(["*/*", "application/octet-stream", None, *ACCEPTS]))
        if accept is not None:
            headers["accept"] = accept
        body = (
            draw_(bodies(world, fields)) if method in ("POST", "PATCH", "PUT", "DELETE") else None
        )
        if body is not None and "content-type" not in headers and draw_(st.booleans()):
            headers["content-type"] = "application/json"
        return Draw(method, url, headers, body)

    return draw()


def ascii_safe(headers: dict[str, str]) -> bool:
    return all(set(v) <= set(string.printable) - set("\r\n\x0b\x0c") for v in headers.values())
