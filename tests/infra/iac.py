"""Reading the checked-in Terraform, and a small IAM evaluator to ask it questions."""

from __future__ import annotations

import ast
import fnmatch
import importlib
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from infra.iac import VARIABLE

REPO = Path(__file__).resolve().parents[2]
# FS_TERRAFORM_DIR: ask the same questions of a fresh `generate` elsewhere (before `make iac`)
TERRAFORM = Path(os.environ.get("FS_TERRAFORM_DIR") or REPO / "infra" / "terraform")
PREFIX = "fs"  # what the checked-in Terraform was generated with
# concrete values for the Terraform references in the policies
PARTITION, REGION, ACCOUNT = "aws", "eu-central-1", "111122223333"
_REFS = {
    "${data.aws_partition.chalice.partition}": PARTITION,
    "${data.aws_region.chalice.name}": REGION,
    "${data.aws_caller_identity.chalice.account_id}": ACCOUNT,
}


def execution_arn(function: str) -> str:
    """A stand-in for the execution ARN of the function's REST API (its API id made up)."""
    return f"arn:{PARTITION}:execute-api:{REGION}:{ACCOUNT}:{function}restapi"


# what the callers of an IAM-only API are given as its execution ARN (infra/settings.py)
_REFS.update(
    {f"${{var.{function}_api_execution_arn}}": execution_arn(function) for function in ("ekss",)}
)


@cache
def main_tf() -> dict[str, Any]:
    return json.loads((TERRAFORM / "main.tf.json").read_text())


@cache
def module(function: str) -> dict[str, Any]:
    return json.loads((TERRAFORM / "functions" / function / "chalice.tf.json").read_text())


def resolve(text: str) -> str:
    for ref, value in _REFS.items():
        text = text.replace(ref, value)
    return text


def policies(function: str) -> list[dict[str, Any]]:
    """Every IAM policy document attached to the function's Lambda roles, refs resolved."""
    docs = module(function)["resource"].get("aws_iam_role_policy", {})
    return [json.loads(resolve(doc["policy"])) for doc in docs.values()]


def policy(function: str) -> dict[str, Any]:
    """The function's one policy (all its Lambdas carry the same)."""
    found = policies(function)
    assert found, f"{function} has no IAM policy"
    assert all(p == found[0] for p in found), f"{function}'s Lambdas carry different policies"
    return found[0]


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def allows(
    document: dict[str, Any],
    action: str,
    resource: str,
    context: dict[str, str] | None = None,
) -> bool:
    """Whether the policy allows ``action`` on ``resource`` (IAM wildcards); a statement
    with conditions counts only when ``context`` meets every one (StringEquals alone)."""
    allowed = False
    for statement in document["Statement"]:
        assert "NotAction" not in statement and "NotResource" not in statement
        if not _conditions_met(statement.get("Condition"), context or {}):
            continue
        actions = [a.lower() for a in _listed(statement["Action"])]
        if not any(fnmatch.fnmatchcase(action.lower(), a) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _listed(statement["Resource"])):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


def _conditions_met(conditions: dict[str, Any] | None, context: dict[str, str]) -> bool:
    if not conditions:
        return True
    assert set(conditions) == {"StringEquals"}, conditions  # the only operator we use
    return all(
        context.get(key) in _listed(wanted) for key, wanted in conditions["StringEquals"].items()
    )


def s3_object(bucket: str) -> str:
    return f"arn:{PARTITION}:s3:::{PREFIX}-{bucket}/some-object-id"


def s3_bucket(bucket: str) -> str:
    return f"arn:{PARTITION}:s3:::{PREFIX}-{bucket}"


def arn(service: str, name: str) -> str:
    return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT}:{name}"


def env_of(function: str) -> dict[str, str]:
    """The environment of the function's Lambdas (all the same)."""
    lambdas = module(function)["resource"]["aws_lambda_function"].values()
    envs = [fn.get("environment", {}).get("variables", {}) for fn in lambdas]
    assert all(env == envs[0] for env in envs)
    return envs[0]


@dataclass(frozen=True)
class ConfigModel:
    function: str
    prefix: str
    model: Any


def config_models() -> list[ConfigModel]:
    """Every ``load_config(Model, "PREFIX")`` call in functions/, with the model it loads."""
    found = []
    for path in sorted((REPO / "functions").glob("*/*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "load_config"
                and len(node.args) >= 2
                and isinstance(node.args[0], ast.Name)
                and isinstance(node.args[1], ast.Constant)
            ):
                name = ".".join(path.relative_to(REPO).with_suffix("").parts)
                model = getattr(importlib.import_module(name), node.args[0].id)
                found.append(ConfigModel(path.parent.name, node.args[1].value, model))
    return found


def module_variables_used(function: str) -> set[str]:
    return set(VARIABLE.findall(json.dumps(module(function))))
