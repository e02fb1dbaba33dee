"""The testbed journey (``make testbed``): the system end to end, as its users drive it.

Starts the embedded stack (or uses a running one, on any backend, given
``--endpoints``), then walks the journey through the real command-line tools
over real HTTP, checks every step, prints a short report and exits 0 only
if all of it held.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.crypt.keys import encode_key, generate_keypair, public_key_pem
from shared.crypt.sealedbox import unseal
from testbed.process import start_stack_process

BIN = Path(sys.executable).parent


class JourneyFailed(Exception):
    """A step did not hold; the message says what was expected."""


@dataclass
class Step:
    name: str
    seconds: float
    detail: str


@dataclass
class Journey:
    endpoints: dict[str, Any]
    state_dir: Path
    workdir: Path
    steps: list[Step] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def step(self, name: str, action: Callable[[], str]) -> None:
        started = time.monotonic()
        print(f"  … {name}", flush=True)
        try:
            detail = action()
        except JourneyFailed:
            raise
        except Exception as error:
            raise JourneyFailed(f"{name}: {type(error).__name__}: {error}") from error
        self.steps.append(Step(name, time.monotonic() - started, detail))
        print(f"  ✓ {name} ({time.monotonic() - started:.2f}s): {detail}", flush=True)

    def run(self, *argv: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
        """Run one of our command-line tools as a user would; its stdout, or fail."""
        result = subprocess.run(
            [str(BIN / argv[0]), *argv[1:]],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, "FS_STACK_DIR": str(self.state_dir), **(env or {})},
        )
        if result.returncode != 0:
            raise JourneyFailed(
                f"`{' '.join(argv[:2])}` exited {result.returncode}: {result.stderr.strip()[-800:]}"
            )
        return result.stdout


def _jwt_claims(token: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


# ------------------------------------------------------------------ the steps


def make_user(journey: Journey) -> str:
    private, public = generate_keypair()
    (journey.workdir / "user.pub").write_text(public_key_pem(public))
    journey.facts["user_private"], journey.facts["user_public"] = private, public
    return "a fresh Crypt4GH key pair for the submitter"


def create_box(journey: Journey) -> str:
    box_id = journey.run("fs-admin", "create-box", "--max-size", str(10 * 1024**3)).strip()
    journey.facts["box_id"] = box_id
    return f"upload box {box_id}"


def create_upload_package(journey: Journey) -> str:
    pasted = journey.run(
        "fs-admin",
        "create-work-package",
        "--type",
        "upload",
        "--box",
        journey.facts["box_id"],
        "--user-public-key",
        str(journey.workdir / "user.pub"),
    ).strip()
    package_id, _, sealed = pasted.partition(":")
    if not sealed:
        raise JourneyFailed(f"fs-admin printed {pasted[:40]!r}…, not '<id>:<token>'")
    journey.facts["upload_wpat"] = pasted
    journey.facts["upload_package_id"] = package_id
    return f"work package {package_id} (token encrypted to the submitter's key)"


def exchange_for_work_order_tokens(journey: Journey) -> str:
    wps = journey.endpoints["wps_url"]
    package_id, _, sealed = journey.facts["upload_wpat"].partition(":")
    access_token = unseal(sealed, journey.facts["user_private"])
    auth = {"Authorization": f"Bearer {access_token}"}
    package = httpx.get(f"{wps}/work-packages/{package_id}", headers=auth, timeout=30)
    if package.status_code != 200:
        raise JourneyFailed(f"GET work package answered {package.status_code}: {package.text}")
    rdub = package.json()["research_data_upload_box_id"]
    kinds = []
    for body in ({"work_type": "view"}, {"work_type": "create", "alias": "journey.txt"}):
        response = httpx.post(
            f"{wps}/work-packages/{package_id}/boxes/{rdub}/work-order-tokens",
            json=body,
            headers=auth,
            timeout=30,
        )
        if response.status_code != 201:
            raise JourneyFailed(f"WOT {body} answered {response.status_code}: {response.text}")
        claims = _jwt_claims(unseal(response.json(), journey.facts["user_private"]))
        if claims["box_id"] != journey.facts["box_id"] or claims["work_type"] != body["work_type"]:
            raise JourneyFailed(f"WOT claims do not match the request: {claims}")
        if claims["user_public_crypt4gh_key"] != encode_key(journey.facts["user_public"]):
            raise JourneyFailed("WOT names another user's key")
        kinds.append(f"{claims['work_type']} (valid {claims['exp'] - claims['iat']}s)")
    return "work order tokens: " + ", ".join(kinds)


STEPS: list[tuple[str, Callable[[Journey], str]]] = [
    ("submitter key pair", make_user),
    ("operator creates an upload box", create_box),
    ("operator issues an upload work package", create_upload_package),
    ("connector side exchanges the package for work order tokens", exchange_for_work_order_tokens),
]


# ------------------------------------------------------------------ driver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="testbed-journey", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=Path, help="endpoints.json of a running stack")
    args = parser.parse_args(argv)
    print("Testbed journey", flush=True)
    started = time.monotonic()
    process = None
    with tempfile.TemporaryDirectory(prefix="fs-journey-") as tmp:
        try:
            if args.endpoints:
                state_dir = args.endpoints.parent
                endpoints = json.loads(args.endpoints.read_text())
            else:
                state_dir = Path(tmp) / "stack"
                print("  … starting the embedded stack", flush=True)
                stack = start_stack_process(state_dir)
                process, endpoints = stack.process, stack.endpoints
                print(f"  ✓ embedded stack up ({time.monotonic() - started:.1f}s)", flush=True)
            journey = Journey(endpoints, state_dir, Path(tmp))
            for name, action in STEPS:
                journey.step(name, lambda a=action: a(journey))
        except JourneyFailed as failure:
            print(f"\nJOURNEY FAILED: {failure}", flush=True)
            return 1
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    print(f"\nReport: {len(journey.steps)} steps held in {time.monotonic() - started:.1f}s")
    for step in journey.steps:
        print(f"  {step.seconds:7.2f}s  {step.name}")
    print("JOURNEY OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
