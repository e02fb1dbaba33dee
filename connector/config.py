"""Settings: command-line options > FS_CONNECTOR_* environment > TOML config file > defaults.

The config file is $FS_CONNECTOR_CONFIG, else ~/.config/fs-connector/config.toml if it
exists. Its keys are the field names below (``part_size = "64MiB"``, ``concurrency = 8``).
Secrets (the access token, the key passphrase) are never settings: they come from the
environment or a hidden prompt only.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from connector.errors import BadInput
from connector.http import insecure_problem

ENV_PREFIX = "FS_CONNECTOR_"
CONFIG_ENV = "FS_CONNECTOR_CONFIG"
MIB = 1024 * 1024


def default_config_file() -> Path:
    return Path.home() / ".config" / "fs-connector" / "config.toml"


def default_state_dir() -> Path:
    """Where resume records live (XDG state home on Linux, the same layout elsewhere)."""
    base = os.environ.get("XDG_STATE_HOME")
    root = Path(base) if base else Path.home() / ".local" / "state"
    return root / "fs-connector"


@dataclass(frozen=True)
class Settings:
    wkvs_url: str | None = None
    part_size: int = 64 * MIB  # rounded up to whole cipher segments per upload
    concurrency: int = 8  # parts in flight at once, at most (max_memory may allow fewer)
    # bytes of file data in memory at once: parts (ranges) in flight per file are
    # min(concurrency, max(1, max_memory // part size)); see connector.transfer.in_flight
    max_memory: int = 2048 * MIB
    retries: int = 5  # retries after the first attempt of a request
    timeout: float = 60.0  # seconds to wait for a response (read/write)
    connect_timeout: float = 10.0
    backoff_max: float = 30.0  # cap of the exponential back-off, in seconds
    part_url_interval: float = 0.02  # minimum seconds between two part-URL requests
    range_size: int = 64 * MIB  # download: bytes per range request
    # download: seconds to wait for a file to be staged; None: scaled with the file's size
    # (connector.download.batch.staging_patience: at least an hour)
    max_wait: float | None = None
    state_dir: Path | None = None  # None: default_state_dir()
    my_public_key_path: Path = Path("key.pub")
    my_private_key_path: Path = Path("key.sec")

    @property
    def resume_dir(self) -> Path:
        return self.state_dir or default_state_dir()

    def require_wkvs_url(self) -> str:
        if not self.wkvs_url:
            raise BadInput(
                "No WKVS URL configured: set FS_CONNECTOR_WKVS_URL, pass --wkvs-url, or put "
                "wkvs_url in the config file."
            )
        return self.wkvs_url.rstrip("/")


_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": MIB, "g": 1024 * MIB, "t": 1024 * 1024 * MIB}


def parse_size(value: Any) -> int:
    """Bytes from an int or a text like ``64MiB``, ``5M``, ``1048576`` (binary units)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError("expected a size such as 67108864, 64MiB or 5M")
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _UNITS[unit]


def _url(value: Any) -> str:
    text = str(value).strip()
    if not re.match(r"^https?://[^/\s]+", text):
        raise ValueError("expected an https:// URL")
    problem = insecure_problem(text)
    if problem:
        raise ValueError(problem)
    return text


def _bounded(kind: Callable[[Any], Any], low: float, high: float) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected a number")
        number = kind(value)
        if not low <= number <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return number

    return parse


def _path(value: Any) -> Path:
    return Path(str(value)).expanduser()


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "wkvs_url": _url,
    "part_size": lambda v: _bounded(int, 1, 5 * 1024 * MIB)(parse_size(v)),
    "concurrency": _bounded(int, 1, 64),
    "max_memory": lambda v: _bounded(int, MIB, 1024 * 1024 * MIB)(parse_size(v)),
    "retries": _bounded(int, 0, 20),
    "timeout": _bounded(float, 0.1, 3600),
    "connect_timeout": _bounded(float, 0.1, 600),
    "backoff_max": _bounded(float, 0, 600),
    "part_url_interval": _bounded(float, 0, 10),
    "range_size": lambda v: _bounded(int, 1, 5 * 1024 * MIB)(parse_size(v)),
    "max_wait": _bounded(float, 0, 7 * 24 * 3600),
    "state_dir": _path,
    "my_public_key_path": _path,
    "my_private_key_path": _path,
}
FIELDS = tuple(f.name for f in fields(Settings))


def _parse(name: str, value: Any, origin: str) -> Any:
    try:
        return _PARSERS[name](value)
    except (TypeError, ValueError) as error:
        raise BadInput(f"Invalid {name} {value!r} in {origin}: {error}") from None


def read_config_file(env: Mapping[str, str]) -> tuple[dict[str, Any], str | None]:
    """The settings of the config file (and its path), or nothing if there is none."""
    named = env.get(CONFIG_ENV)
    path = Path(named).expanduser() if named else default_config_file()
    if not named and not path.is_file():
        return {}, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"The config file {path} ({CONFIG_ENV}) does not exist.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"Cannot read the config file {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise BadInput(f"The config file {path} is not valid TOML: {error}") from None
    settings = {str(key).replace("-", "_"): value for key, value in data.items()}
    unknown = sorted(set(settings) - set(FIELDS))
    if unknown:
        raise BadInput(
            f"Unknown setting(s) {', '.join(unknown)} in {path}; known: {', '.join(FIELDS)}."
        )
    return settings, str(path)


def load_settings(
    options: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Merge options (None = not given) over environment over config file over defaults."""
    env = os.environ if env is None else env
    file_values, file_path = read_config_file(env)
    values: dict[str, Any] = {}
    for name in FIELDS:
        env_name = ENV_PREFIX + name.upper()
        if options and options.get(name) is not None:
            values[name] = _parse(name, options[name], f"option --{name.replace('_', '-')}")
        elif env.get(env_name, "").strip():
            values[name] = _parse(name, env[env_name], f"environment variable {env_name}")
        elif name in file_values:
            values[name] = _parse(name, file_values[name], f"config file {file_path}")
    return Settings(**values)
