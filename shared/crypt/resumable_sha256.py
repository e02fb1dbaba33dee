"""A SHA-256 whose running state can be saved and restored.

Interrogation hashes the plaintext of files that can take longer than one Lambda invocation
(15 minutes), so the hash state must survive in a checkpoint. ``hashlib`` objects cannot be
serialized; OpenSSL's low-level ``SHA256_CTX`` can: it is a plain struct, reached here through
ctypes in the libcrypto that Python's own ``_hashlib`` uses. The saved form is portable (fixed
byte order, independent of the machine's), so a checkpoint written on one architecture
resumes on another.

There is deliberately no slow pure-Python fallback: if libcrypto cannot be loaded, creating a
``ResumableSha256`` raises ``ResumableHashUnavailable`` naming the cause, at the first use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
from functools import cache
from typing import Any

STATE_VERSION = 1
_STATE_FORMAT = ">B8I2I64s2I"  # version, h[8], Nl, Nh, data[64], num, md_len
STATE_SIZE = struct.calcsize(_STATE_FORMAT)


class ResumableHashUnavailable(RuntimeError):
    """OpenSSL's libcrypto (SHA256_Init/Update/Final) cannot be loaded on this machine."""


class InvalidHashState(ValueError):
    """Saved bytes that are not a state written by ResumableSha256.state()."""


class _Sha256Ctx(ctypes.Structure):
    # OpenSSL's SHA256_CTX (include/openssl/sha.h), unchanged since 0.9.8
    _fields_ = [
        ("h", ctypes.c_uint32 * 8),
        ("Nl", ctypes.c_uint32),
        ("Nh", ctypes.c_uint32),
        ("data", ctypes.c_uint8 * 64),
        ("num", ctypes.c_uint),
        ("md_len", ctypes.c_uint),
    ]


def _candidates() -> list[str]:
    names: list[str] = []
    found = ctypes.util.find_library("crypto")
    if found:
        names.append(found)
    names += ["libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.dylib", "libcrypto-3-x64.dll"]
    try:  # the extension module links libcrypto; dlsym also searches its dependencies
        import _hashlib

        names.append(_hashlib.__file__)
    except (ImportError, AttributeError):
        pass
    return names


@cache
def _library() -> Any:
    problems = []
    for name in _candidates():
        try:
            lib = ctypes.CDLL(name)
            for function in ("SHA256_Init", "SHA256_Update", "SHA256_Final"):
                getattr(lib, function)
        except (OSError, AttributeError) as error:
            problems.append(f"{name}: {error}")
            continue
        lib.SHA256_Init.argtypes = [ctypes.POINTER(_Sha256Ctx)]
        lib.SHA256_Update.argtypes = [ctypes.POINTER(_Sha256Ctx), ctypes.c_void_p, ctypes.c_size_t]
        lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.POINTER(_Sha256Ctx)]
        for function in (lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final):
            function.restype = ctypes.c_int
        return lib
    raise ResumableHashUnavailable(
        "OpenSSL's libcrypto with SHA256_Init/Update/Final is needed for resumable hashing "
        "and was not found (" + "; ".join(problems or ["no candidates"]) + ")"
    )


class ResumableSha256:
    """SHA-256 with ``state()`` / ``from_state()``; digests equal hashlib's."""

    def __init__(self) -> None:
        self._lib = _library()
        self._ctx = _Sha256Ctx()
        if self._lib.SHA256_Init(ctypes.byref(self._ctx)) != 1:
            raise ResumableHashUnavailable("SHA256_Init failed")

    def update(self, data: bytes | bytearray | memoryview) -> None:
        pointer: Any
        if isinstance(data, bytes):
            pointer, size = data, len(data)
        else:
            view = memoryview(data).cast("B")
            size = view.nbytes
            # a writable buffer is hashed in place; a read-only view is copied once
            pointer = bytes(view) if view.readonly else (ctypes.c_char * size).from_buffer(view)
        if size and self._lib.SHA256_Update(ctypes.byref(self._ctx), pointer, size) != 1:
            raise RuntimeError("SHA256_Update failed")

    def update_range(self, data: bytes | bytearray, start: int, end: int) -> None:
        """Hash ``data[start:end]`` where it lies: no copy, of read-only bytes too (a
        memoryview slice of ``bytes`` is read-only, and ``update`` would copy it)."""
        if not 0 <= start <= end <= len(data):
            raise ValueError(f"range {start}..{end} is not within {len(data)} bytes")
        if end == start:
            return
        if isinstance(data, bytes):  # the address of its bytes; the caller keeps it alive
            base = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0
        else:
            base = ctypes.addressof((ctypes.c_char * len(data)).from_buffer(data))
        if self._lib.SHA256_Update(ctypes.byref(self._ctx), base + start, end - start) != 1:
            raise RuntimeError("SHA256_Update failed")

    @property
    def length(self) -> int:
        """Bytes hashed so far (from the state's bit count)."""
        return ((self._ctx.Nh << 32) | self._ctx.Nl) // 8

    def _final(self) -> bytes:
        copy = _Sha256Ctx.from_buffer_copy(self._ctx)  # finishing must not end this hash
        out = ctypes.create_string_buffer(32)
        if self._lib.SHA256_Final(out, ctypes.byref(copy)) != 1:
            raise RuntimeError("SHA256_Final failed")
        return out.raw

    def digest(self) -> bytes:
        return self._final()

    def hexdigest(self) -> str:
        return self._final().hex()

    def state(self) -> bytes:
        """The running state, in a portable byte layout (see from_state)."""
        ctx = self._ctx
        return struct.pack(
            _STATE_FORMAT,
            STATE_VERSION,
            *ctx.h,
            ctx.Nl,
            ctx.Nh,
            bytes(ctx.data),
            ctx.num,
            ctx.md_len,
        )

    @classmethod
    def from_state(cls, state: bytes) -> ResumableSha256:
        """Continue a hash from ``state()``; InvalidHashState for anything else."""
        if len(state) != STATE_SIZE:
            raise InvalidHashState(f"a saved SHA-256 state has {STATE_SIZE} bytes")
        version, *rest = struct.unpack(_STATE_FORMAT, state)
        h, (nl, nh, data, num, md_len) = rest[:8], rest[8:]
        if version != STATE_VERSION or num >= 64 or md_len != 32:
            raise InvalidHashState("not a SHA-256 state written by this module")
        hasher = cls()
        ctx = hasher._ctx
        ctx.h[:] = h
        ctx.Nl, ctx.Nh, ctx.num, ctx.md_len = nl, nh, num, md_len
        ctypes.memmove(ctx.data, data, 64)
        return hasher
