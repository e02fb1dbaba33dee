"""Settings precedence, key loading and the pasted access token."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from connector.api.wps import parse_wpat, token_claims
from connector.config import MIB, Settings, load_settings, parse_size
from connector.errors import BadInput, NotAuthorized
from connector.keys import load_keypair, load_private_key
from shared.crypt.keys import generate_keypair
from shared.crypt.sealedbox import seal
from tests.connector.helpers import make_keys


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"HOME": str(tmp_path), **values}


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings({}, _env(tmp_path))
    assert settings == Settings()
    assert settings.part_size == 64 * MIB and settings.concurrency == 8
    with pytest.raises(BadInput, match="No WKVS URL configured"):
        settings.require_wkvs_url()


def test_options_over_environment_over_file(tmp_path: Path) -> None:
    config = tmp_path / "fs.toml"
    config.write_text(
        'wkvs_url = "https://file/wkvs"\npart_size = "16MiB"\nconcurrency = 3\nretries = 1\n'
        "part-url-interval = 0.5\n"
    )
    env = _env(
        tmp_path,
        FS_CONNECTOR_CONFIG=str(config),
        FS_CONNECTOR_PART_SIZE="32M",
        FS_CONNECTOR_CONCURRENCY="4",
    )
    settings = load_settings({"concurrency": 5, "retries": None}, env)
    assert settings.wkvs_url == "https://file/wkvs"  # file only
    assert settings.part_size == 32 * MIB  # env over file
    assert settings.concurrency == 5  # option over env
    assert settings.retries == 1  # an option not given does not count
    assert settings.part_url_interval == 0.5
    assert settings.require_wkvs_url() == "https://file/wkvs"


def test_default_config_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / ".config" / "fs-connector" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('timeout = 12.5\nstate_dir = "~/resume"\n')
    settings = load_settings({}, _env(tmp_path))
    assert settings.timeout == 12.5
    assert settings.resume_dir == tmp_path / "resume"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FS_CONNECTOR_CONCURRENCY": "0"}, "Invalid concurrency '0' in environment variable"),
        ({"FS_CONNECTOR_CONCURRENCY": "many"}, "Invalid concurrency"),
        ({"FS_CONNECTOR_WKVS_URL": "ftp://x"}, "expected an https:// URL"),
        ({"FS_CONNECTOR_WKVS_URL": "http://archive.example/wkvs"}, "plain http://"),
        ({"FS_CONNECTOR_WKVS_URL": "http://192.0.2.2:8080"}, "plain http://"),
        ({"FS_CONNECTOR_WKVS_URL": "http://[::ffff:10.0.0.1]/"}, "plain http://"),
        ({"FS_CONNECTOR_WKVS_URL": "http://localhost.example/"}, "plain http://"),
        ({"FS_CONNECTOR_PART_SIZE": "6TiB"}, "Invalid part_size"),
        ({"FS_CONNECTOR_CONFIG": "/nonexistent/fs.toml"}, "does not exist"),
    ],
)
def test_bad_settings(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        load_settings({}, _env(tmp_path, **env))


@pytest.mark.parametrize(
    "url",
    [
        "https://archive.example/wkvs",
        "http://127.0.0.1:8080",
        "http://127.1.2.3/wkvs",
        "http://[::1]:8080",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost:8080/wkvs",
        "http://LOCALHOST./",
    ],
)
def test_https_and_this_machine_are_accepted(tmp_path: Path, url: str) -> None:
    assert load_settings({}, _env(tmp_path, FS_CONNECTOR_WKVS_URL=url)).wkvs_url == url


def test_bad_config_files(tmp_path: Path) -> None:
    config = tmp_path / "fs.toml"
    config.write_text("concurrency = \n")
    with pytest.raises(BadInput, match="not valid TOML"):
        load_settings({}, _env(tmp_path, FS_CONNECTOR_CONFIG=str(config)))
    config.write_text("colour = 'blue'\n")
    with pytest.raises(BadInput, match="Unknown setting"):
        load_settings({}, _env(tmp_path, FS_CONNECTOR_CONFIG=str(config)))
    config.write_text("concurrency = true\n")
    with pytest.raises(BadInput, match="Invalid concurrency True in config file"):
        load_settings({}, _env(tmp_path, FS_CONNECTOR_CONFIG=str(config)))


def test_parse_size() -> None:
    assert parse_size("64MiB") == 64 * MIB
    assert parse_size("5m") == 5 * MIB
    assert parse_size("1 GiB") == 1024 * MIB
    assert parse_size("123") == 123 and parse_size(7) == 7
    with pytest.raises(ValueError):
        parse_size("5 parsecs")


# ------------------------------------------------------------------ keys


def test_keypair_loads_and_matches(tmp_path: Path) -> None:
    files = make_keys(tmp_path)
    pair = load_keypair(files.public, files.private)
    assert (pair.private_key, pair.public_key) == (files.user.private_key, files.user.public_key)
    assert "private_key" not in repr(pair)
    other = make_keys(tmp_path / "other")
    with pytest.raises(BadInput, match="do not match"):
        load_keypair(other.public, files.private)


def test_encrypted_key_prompts_up_to_three_times(tmp_path: Path) -> None:
    files = make_keys(tmp_path, passphrase="correct")
    asked: list[str] = []
    answers = iter(["wrong", "also wrong", "correct"])

    def prompt(text: str) -> str:
        asked.append(text)
        return next(answers)

    assert load_private_key(files.private, prompt, env={}) == files.user.private_key
    assert [text.split(" (", 1)[1] for text in asked] == [
        "3 attempt(s) left)",
        "2 attempt(s) left)",
        "1 attempt(s) left)",
    ]
    with pytest.raises(BadInput, match="Wrong passphrase for the private key"):
        load_private_key(files.private, lambda text: "nope", env={})


def test_passphrase_from_environment_is_tried_once(tmp_path: Path) -> None:
    files = make_keys(tmp_path, passphrase="correct")
    prompts: list[str] = []
    env = {"FS_CONNECTOR_PASSPHRASE": "correct"}
    assert load_private_key(files.private, prompts.append, env) == files.user.private_key
    assert prompts == []
    with pytest.raises(BadInput, match="from FS_CONNECTOR_PASSPHRASE"):
        load_private_key(files.private, prompts.append, {"FS_CONNECTOR_PASSPHRASE": "x"})
    with pytest.raises(BadInput, match="protected by a passphrase"):
        load_private_key(files.private, None, env={})


def test_unencrypted_key_never_prompts(tmp_path: Path) -> None:
    files = make_keys(tmp_path)

    def prompt(text: str) -> str:
        raise AssertionError("asked for a passphrase")

    assert load_private_key(files.private, prompt, env={}) == files.user.private_key


@pytest.mark.parametrize(
    "content", ["", "garbage\n", "-----BEGIN CRYPT4GH PUBLIC KEY-----\nAAAA\n"]
)
def test_broken_key_files(tmp_path: Path, content: str) -> None:
    files = make_keys(tmp_path)
    broken = tmp_path / "broken"
    broken.write_text(content)
    with pytest.raises(BadInput, match="is not a Crypt4GH"):
        load_keypair(broken, files.private)
    with pytest.raises(BadInput, match="is not a Crypt4GH"):
        load_keypair(files.public, broken)
    with pytest.raises(BadInput, match="is not a file"):
        load_keypair(tmp_path, files.private)


# ------------------------------------------------------------------ access token


def test_parse_wpat() -> None:
    private, public = generate_keypair()
    package = str(uuid.uuid4())
    token = parse_wpat(f" {package}:{seal('t' * 24, public)}\n", private)
    assert (token.package_id, token.token) == (package, "t" * 24)
    assert "t" * 24 not in repr(token)
    with pytest.raises(BadInput, match="must look like"):
        parse_wpat("no colon", private)
    with pytest.raises(BadInput, match="must look like"):
        parse_wpat(f"{package}:a:b", private)
    with pytest.raises(BadInput, match="does not start with a work package id"):
        parse_wpat(f"nope:{seal('t' * 24, public)}", private)
    with pytest.raises(NotAuthorized, match="cannot be opened with your private key"):
        parse_wpat(f"{package}:{seal('t' * 24, generate_keypair()[1])}", private)
    with pytest.raises(NotAuthorized):
        parse_wpat(f"{package}:not base64!", private)


def test_token_claims_are_read_without_verification() -> None:
    import base64
    import json

    payload = base64.urlsafe_b64encode(json.dumps({"exp": 30, "iat": 0}).encode()).rstrip(b"=")
    assert token_claims(f"e30.{payload.decode()}.sig") == {"exp": 30, "iat": 0}
    assert token_claims("not a jwt") == {}
    assert token_claims("a.!!!.c") == {}


@pytest.mark.parametrize("u", [0, 1, 2**255 - 19 - 1])
def test_a_weak_public_key_file_is_refused(tmp_path: Path, u: int) -> None:
    from connector.keys import load_public_key
    from shared.crypt.keys import public_key_pem

    weak = tmp_path / "weak.pub"
    weak.write_text(public_key_pem(u.to_bytes(32, "little")))
    with pytest.raises(BadInput, match="weak public key"):
        load_public_key(weak)
    _, good = generate_keypair()
    fine = tmp_path / "good.pub"
    fine.write_text(public_key_pem(good))
    assert load_public_key(fine) == good


def test_a_test_stack_may_name_its_own_plain_http_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Docker LocalStack testbed calls this machine localhost.localstack.cloud: its
    journey names that host, and only that host is let through."""
    from connector.http import ALLOW_HTTP_HOSTS_ENV, insecure_problem

    url = "http://localhost.localstack.cloud:4566/restapis/x"
    assert insecure_problem(url) is not None
    monkeypatch.setenv(ALLOW_HTTP_HOSTS_ENV, "localhost.localstack.cloud, other.test")
    assert insecure_problem(url) is None
    assert insecure_problem("http://evil.localstack.cloud:4566/") is not None
    assert insecure_problem("http://archive.example.org/") is not None
