"""fs-connector: the client CLI that moves files into (and later out of) the archive.

It installs with httpx, typer, rich, crypt4gh and PyNaCl only, and imports nothing of
the services but ``shared.crypt``, so it runs on any laptop (Linux, macOS, Windows).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fileservices")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
