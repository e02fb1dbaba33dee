"""The IaC is generated from the declaration: CI fails when the two disagree."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from infra import settings
from infra.chalice_project import StageValues, assemble, stage_config
from infra.iac import check
from infra.iam import ArnContext, policy_document
from infra.shared_terraform import root_module
from shared.config import env_name, parameter_variable
from shared.resources import DECLARATION
from tests.infra.iac import REPO, TERRAFORM, config_models, env_of


def _env_without_prefix() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "FS_RESOURCE_PREFIX"}


def test_checked_in_terraform_is_what_the_declaration_makes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.iac", "check"],
        cwd=REPO,
        env=_env_without_prefix(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        "the checked-in Terraform is stale; run `make iac` and commit infra/terraform:\n"
        + result.stderr
    )


def test_check_notices_a_changed_queue_and_a_changed_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FS_RESOURCE_PREFIX", raising=False)
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns("*.zip", ".terraform*"))
    main = copy / "main.tf.json"
    main.write_text(main.read_text().replace('"fs-irs-inbox"', '"fs-irs-inbox-renamed"'))
    irs = copy / "functions" / "irs" / "chalice.tf.json"
    irs.write_text(irs.read_text().replace('"memory_size": 4096', '"memory_size": 128'))
    (copy / "functions" / "wkvs" / "chalice.tf.json").unlink()
    problems = check(copy)
    assert len(problems) == 3, problems
    assert any(p.startswith("main.tf.json differs") for p in problems)
    assert any(p.startswith("functions/irs/chalice.tf.json differs") for p in problems)
    assert any(p.startswith("functions/wkvs/chalice.tf.json is missing") for p in problems)


def test_every_function_package_carries_the_shared_code(tmp_path: Path) -> None:
    """Import each assembled project with only its own directory and vendor/ for our code."""
    probe = (
        "import importlib, json, sys\n"
        "sys.path[:0] = [sys.argv[1], sys.argv[1] + '/vendor']\n"
        "app = importlib.import_module('app').app\n"
        "ours = {n: getattr(m, '__file__', None) for n, m in sys.modules.items()\n"
        "        if n.split('.')[0] in ('shared', 'functions', 'infra', 'testbed', 'admin')}\n"
        "import chalice\n"
        "print(json.dumps({'app': isinstance(app, chalice.Chalice), 'modules': ours}))\n"
    )
    for function in settings.SETTINGS:
        project = assemble(
            function, tmp_path, prefix="fs", stages={"aws": None}, with_requirements=False
        )
        result = subprocess.run(
            [sys.executable, "-c", probe, str(project)],
            cwd=project,
            env=_env_without_prefix(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        found = json.loads(result.stdout)
        assert found["app"] is True
        assert found["modules"], function
        for name, path in found["modules"].items():
            assert name.split(".")[0] not in ("testbed", "admin"), name
            if path is not None:  # namespace packages have none
                assert Path(path).is_relative_to(project), f"{function}: {name} from {path}"
        config = json.loads((project / ".chalice" / "config.json").read_text())
        assert config["stages"]["aws"]["autogen_policy"] is False
        assert (project / ".chalice" / "policy-aws.json").exists()


def test_deployed_environment_covers_every_required_setting() -> None:
    models = config_models()
    assert {m.function for m in models} >= {"wkvs", "wps", "ucs", "irs", "ekss", "ifrs"}
    for found in models:
        env = env_of(found.function)
        fields = found.model.model_fields
        for name, field in fields.items():
            if field.is_required():
                given = {env_name(found.prefix, name), parameter_variable(found.prefix, name)}
                assert given & set(env), (found.function, name)
            if field.annotation is SecretStr and field.is_required():
                # a secret reaches the function as an SSM parameter's name, never a value
                assert env_name(found.prefix, name) not in env, (found.function, name)
                assert env[parameter_variable(found.prefix, name)].startswith("/fs/")
        # the resource variables are set for every function, used or not
        known = {env_name(found.prefix, name) for name in (*fields, "buckets", "topics", "tables")}
        known |= {parameter_variable(found.prefix, name) for name in fields}
        unknown = {k for k in env if k.startswith(found.prefix + "_")} - known
        assert not unknown, f"{found.function} is given variables its config ignores: {unknown}"


def test_settings_refuse_vault_outside_the_vault_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    settings.check()
    leaky = dict(settings.SETTINGS)
    leaky["irs"] = {
        **leaky["irs"],
        "IRS_VAULT_TOKEN": settings.Input("vault_token", "x", sensitive=True, reaches_vault=True),
    }
    monkeypatch.setattr(settings, "SETTINGS", leaky)
    with pytest.raises(ValueError, match="reaching Vault"):
        settings.check()


def test_localstack_stage_has_concrete_values_and_localstack_arns() -> None:
    values = {name: f"value-of-{name}" for name in settings.inputs()}
    urls = {f: f"http://127.0.0.1:4566/restapis/{f}/api/_user_request_/" for f in settings.SETTINGS}
    concrete = StageValues("eu-central-1", "000000000000", values, urls)
    config, policy = stage_config("ekss", "localstack", "fs", concrete)
    env = config["environment_variables"]
    assert env["EKSS_VAULT_URL"] == "value-of-vault_url"
    assert config["automatic_layer"] is False
    text = json.dumps([config, policy])
    assert "${" not in text and ":000000000000:" in text
    irs, _ = stage_config("irs", "localstack", "fs", concrete)
    assert irs["environment_variables"]["IRS_EKSS_URL"].endswith("/_user_request_")
    assert "000000000000:fs-FileInterrogationSuccess" in irs["environment_variables"]["IRS_TOPICS"]


def test_renaming_a_queue_renames_it_everywhere() -> None:
    old = next(q for q in DECLARATION.queues if q.s3 is not None)
    renamed = dataclasses.replace(old, key=old.key + "-renamed")
    queues = tuple(renamed if q is old else q for q in DECLARATION.queues)
    decl = dataclasses.replace(DECLARATION, queues=queues)
    shared = json.dumps(root_module("fs", decl))
    iam = json.dumps(
        policy_document(old.consumer, ArnContext("aws", "r", "1", "fs"), log_groups=[], decl=decl)
    )
    for text in (shared, iam):
        assert f"fs-{old.key}-renamed" in text
        assert f'fs-{old.key}"' not in text and f"fs-{old.key}-dlq" not in text
