"""Static checks on the synthesized app: cdk-nag, cfn-lint, the pinned CDK CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from infra_synth import EVENT_BRIDGE, EXISTING_BUCKET, NO_BUNDLING, ROOT, Synth, project_context

from infra.app import STACK_NAME, build_app
from infra.nag import acknowledge_findings
from infra.stack import Alb502Stack

pytestmark = pytest.mark.slow


def nag_report(synth: Synth) -> dict[str, Any]:
    reports: list[dict[str, Any]] = synth.report["pluginReports"]
    (report,) = [r for r in reports if r["pluginName"] == "AwsSolutions"]
    return report


CONFIGURATIONS = ["default_synth", "existing_synth", "eventbridge_synth", "regions_synth"]


def synths(which: str, request: pytest.FixtureRequest) -> list[Synth]:
    got: Synth | list[Synth] = request.getfixturevalue(which)
    return got if isinstance(got, list) else [got]


@pytest.mark.parametrize("which", CONFIGURATIONS)
def test_cdk_nag_has_no_unacknowledged_findings(which: str, request: pytest.FixtureRequest) -> None:
    synth = synths(which, request)[0]
    report = nag_report(synth)
    assert report["conclusion"] == "success"
    assert report["violations"] == []


@pytest.mark.parametrize(
    "overrides", [{}, EXISTING_BUCKET, EVENT_BRIDGE], ids=["default", "existing", "eventbridge"]
)
def test_every_acknowledgement_answers_a_real_finding(
    overrides: dict[str, Any], tmp_path: Path
) -> None:
    """Without the acknowledgements, cdk-nag reports exactly those findings."""
    context = project_context({**overrides, **NO_BUNDLING})
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        build_app(context, outdir=str(tmp_path), acknowledge=False).synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    findings = {
        (violation["ruleName"], construct["constructPath"])
        for violation in nag["violations"]
        for construct in violation["violatingConstructs"]
    }

    stack = build_app(context, acknowledge=False).node.find_child(STACK_NAME)
    assert isinstance(stack, Alb502Stack)
    acknowledged = acknowledge_findings(stack)
    # Each acknowledgement sits on the construct (or its L1 child) it excuses.
    matched = {
        (rule, path)
        for rule, path in findings
        for ack_path, ack_rule in acknowledged
        if rule == ack_rule and (path == ack_path or path.startswith(ack_path + "/"))
    }
    assert matched == findings, "findings nobody acknowledged"
    used = {
        (ack_path, ack_rule)
        for ack_path, ack_rule in acknowledged
        for rule, path in findings
        if rule == ack_rule and (path == ack_path or path.startswith(ack_path + "/"))
    }
    assert used == set(acknowledged), "acknowledgements that excuse nothing"


@pytest.mark.parametrize("which", CONFIGURATIONS)
def test_cfn_lint_is_clean(which: str, request: pytest.FixtureRequest) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("cfn-lint")),
            "--ignore-checks",
            "W3005",  # CDK's DependsOn that are also implied by Ref/GetAtt
            "--",
            *(str(synth.template_path) for synth in synths(which, request)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_pinned_cdk_cli_synthesizes_offline(tmp_path: Path) -> None:
    """`make synth`'s command: the pinned CLI reads this aws-cdk-lib's assembly."""
    cli = ROOT / "node_modules" / ".bin" / "cdk"
    if not cli.exists():
        pytest.fail("node_modules/.bin/cdk is missing: run `make setup` (npm ci)")
    env = {
        **os.environ,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        # Nothing to look up, nothing to reach: no credentials at all.
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_PROFILE": "",
    }
    result = subprocess.run(
        [
            str(cli),
            "synth",
            "--no-notices",
            "--no-version-reporting",
            "--quiet",
            "--output",
            str(tmp_path / "cdk.out"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((tmp_path / "cdk.out" / f"{STACK_NAME}.template.json").read_text())
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::Glue::Table", "AWS::Athena::WorkGroup"} <= kinds
    manifest = json.loads((tmp_path / "cdk.out" / "manifest.json").read_text())
    assert manifest["version"]
    shutil.rmtree(tmp_path / "cdk.out", ignore_errors=True)
