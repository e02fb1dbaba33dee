"""Assemble one Chalice project per function, with the shared code packaged into it.

A project is ``<build>/<function>/``: an ``app.py`` that re-exports the function's app,
``vendor/`` with ``shared/`` (the resource declaration included) and
``functions/<function>/`` (Chalice copies vendor/ to the top of the deployment package),
a pinned ``requirements.txt`` and
``.chalice/`` with the config and one IAM policy per stage. Everything in it is derived
from the declaration; the directory is a build product (gitignored) and rebuilt each time.

Stages: ``aws`` (settings are Terraform variables, ARNs Terraform references; deployed
through the generated Terraform), ``localstack`` (concrete values, LocalStack's account),
``embedded`` (what fs-stack runs; its secrets are made at start-up, so none are here).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import settings
from infra.iam import API_STAGE, ArnContext, lambda_function_names, policy_document
from shared.resources import DECLARATION, MOTO_ACCOUNT, Declaration, function_environment

REPO = Path(__file__).resolve().parents[1]
STAGES = ("embedded", "localstack", "aws")
# Chalice packages its own runtime; the connector's CLI dependencies are needed by no function.
# boto3 is packaged although Lambda has one: pynamodb brings botocore, and the two must match.
NOT_PACKAGED = {"chalice", "typer", "rich"}
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


@dataclass(frozen=True)
class StageValues:
    """Concrete settings for a stage deployed without Terraform (LocalStack, chalice deploy)."""

    region: str
    account: str
    values: Mapping[str, str]
    urls: Mapping[str, str]
    extra_env: Mapping[str, str] = field(default_factory=dict)  # e.g. AWS_ENDPOINT_URL


def handlers(function: str, decl: Declaration = DECLARATION) -> list[str]:
    """The function's event handlers (each its own Lambda), from the declaration."""
    names = {q.handler for q in decl.queues if q.consumer == function}
    names |= {s.handler for s in decl.schedules if s.function == function}
    return sorted(names)


def log_groups(function: str, stage: str, prefix: str) -> list[str]:
    """The names of the function's Lambdas, hence of their log groups."""
    names = lambda_function_names(function, stage, handlers(function), prefix)
    if not DECLARATION.function(function).http:
        names = names[1:]  # no API handler Lambda without routes
    return names


def stage_config(
    function: str, stage: str, prefix: str, concrete: StageValues | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Chalice stage config and its IAM policy document."""
    spec = DECLARATION.function(function)
    if stage == "aws":
        ctx = ArnContext.terraform(prefix)
        env = settings.environment(
            function,
            region="${data.aws_region.chalice.name}",
            account="${data.aws_caller_identity.chalice.account_id}",
            prefix=prefix,
        )
    elif stage == "localstack":
        if concrete is None:
            raise ValueError("the localstack stage needs concrete values")
        ctx = ArnContext("aws", concrete.region, concrete.account, prefix)
        env = settings.environment(
            function,
            region=concrete.region,
            account=concrete.account,
            prefix=prefix,
            values=concrete.values,
            urls=concrete.urls,
        )
        env.update(concrete.extra_env)
    elif stage == "embedded":
        ctx = ArnContext("aws", "eu-central-1", MOTO_ACCOUNT, prefix)
        env = function_environment(function, region=ctx.region, account=ctx.account, pfx=prefix)
    else:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    config = {
        "api_gateway_stage": API_STAGE,
        "lambda_memory_size": spec.memory_mb,
        "lambda_timeout": spec.timeout_s,
        "autogen_policy": False,
        "iam_policy_file": f"policy-{stage}.json",
        "automatic_layer": stage == "aws",
        "environment_variables": dict(sorted(env.items())),
        "tags": {"project": "fileservices", "function": function, "stage": stage},
    }
    deployed = stage == "aws"
    if deployed:  # what the deployment adds (KMS, DLQs: infra/iac.py normalise_chalice_module)
        config["reserved_concurrency"] = spec.reserved_concurrency
        config["xray"] = True
    policy = policy_document(
        function, ctx, log_groups=log_groups(function, stage, prefix), deployed=deployed
    )
    return config, policy


def chalice_config(
    function: str, prefix: str, stages: Mapping[str, StageValues | None]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``.chalice/config.json`` and the policy per stage."""
    config: dict[str, Any] = {"version": "2.0", "app_name": f"{prefix}-{function}", "stages": {}}
    policies = {}
    for stage, concrete in stages.items():
        config["stages"][stage], policies[stage] = stage_config(function, stage, prefix, concrete)
    return config, policies


def requirements() -> list[str]:
    """What the functions import, pinned to the versions the tests ran with."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"]) + list(project["optional-dependencies"]["services"])
    pinned = []
    for requirement in wanted:
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?", requirement)
        if match is None:
            raise ValueError(f"cannot read requirement {requirement!r}")
        name, extras = match.group(1), match.group(2) or ""
        if name.lower() in NOT_PACKAGED:
            continue
        pinned.append(f"{name}{extras}=={importlib.metadata.version(name)}")
    return sorted(pinned, key=str.lower)


def assemble(
    function: str,
    build_dir: Path,
    *,
    prefix: str,
    stages: Mapping[str, StageValues | None],
    with_requirements: bool = True,
) -> Path:
    """Write the Chalice project of ``function`` under ``build_dir`` and return its path.

    Without requirements the package is incomplete, but Chalice's Terraform is the same:
    that is how the tests regenerate it quickly and offline.
    """
    project = build_dir / function
    # start afresh, but keep .chalice/deployments: Chalice's cache of built packages
    for stale in (project / "vendor", project / "app.py", project / "requirements.txt"):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)
    for stale in (project / ".chalice").glob("*.json"):
        stale.unlink()
    vendor = project / "vendor"
    (vendor / "functions").mkdir(parents=True)
    shutil.copytree(REPO / "shared", vendor / "shared", ignore=IGNORE)
    shutil.copytree(REPO / "functions" / function, vendor / "functions" / function, ignore=IGNORE)
    shutil.copy2(REPO / "functions" / "__init__.py", vendor / "functions" / "__init__.py")
    (project / "app.py").write_text(
        f'"""The {function} function as a Chalice project (infra/chalice_project.py)."""\n'
        "\n"
        f"from functions.{function}.app import app  # noqa: F401\n"
    )
    pinned = requirements() if with_requirements else []
    (project / "requirements.txt").write_text("".join(f"{line}\n" for line in pinned))
    config, policies = chalice_config(function, prefix, stages)
    dot = project / ".chalice"
    dot.mkdir(exist_ok=True)
    (dot / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for stage, policy in policies.items():
        (dot / f"policy-{stage}.json").write_text(json.dumps(policy, indent=2) + "\n")
    return project
