"""Synthesizing the CDK app for the infrastructure tests (fixtures: conftest.py).

A module of its own, not conftest.py: test modules import these names, and
``conftest`` is an ambiguous module name with tests/conftest.py beside it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Before jsii starts (first aws_cdk import): see infra/__init__.py.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App, Environment, Validations  # noqa: E402 - after the environment is set
from aws_cdk.assertions import Template  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.app import STACK_NAME, build_app  # noqa: E402
from infra.config import settings_from_context  # noqa: E402
from infra.nag import acknowledge_findings  # noqa: E402
from infra.stack import Alb502Stack  # noqa: E402

#: Context that makes CDK skip asset bundling (for synths that test no bundle).
NO_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}

#: An existing log bucket, two load balancers, an alarm e-mail and non-default
#: function settings: every optional branch of the app.
EXISTING_BUCKET: dict[str, Any] = {
    "stackName": "alb502-prod",
    "logBucketName": "my-alb-logs",
    "logPrefix": "prod/",
    "loadBalancers": "app/web/0123456789abcdef,app/api/fedcba9876543210",
    "alarmEmail": "oncall@example.com",
    "functionMemoryMb": 3008,
    "functionTimeoutSeconds": 120,
    "reservedConcurrency": 4,
    "maxConcurrency": 3,
    "batchSize": 2,
    "lagThresholdSeconds": 900,
}


#: A bucket whose notifications belong to someone else (EventBridge mode), an
#: existing SNS topic for pages, and a lake that expires.
EVENT_BRIDGE: dict[str, Any] = {
    "logBucketName": "org-alb-logs",
    "notifications": "eventbridge",
    "alarmTopicArn": "arn:aws:sns:us-east-1:111122223333:pager",
    "lakeExpirationDays": 400,
}

#: One account, two regions side by side.
ACCOUNT = "111122223333"
REGIONS = ("us-east-1", "eu-west-1")


def project_context(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """cdk.json's context (feature flags and defaults) as the CLI would pass it."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return {**context, **(overrides or {})}


@dataclass(frozen=True)
class Synth:
    outdir: Path
    template_path: Path
    raw: dict[str, Any]
    template: Template
    report: dict[str, Any]


def synthesize(outdir: Path, overrides: Mapping[str, Any] | None = None) -> Synth:
    build_app(project_context(overrides), outdir=str(outdir)).synth()
    template_path = outdir / f"{STACK_NAME}.template.json"
    raw = json.loads(template_path.read_text())
    report = json.loads((outdir / "validation-report.json").read_text())
    return Synth(outdir, template_path, raw, Template.from_json(raw), report)


def synthesize_regions(outdir: Path, overrides: Mapping[str, Any] | None = None) -> list[Synth]:
    """The stack in each of REGIONS of one account, in one app (as a user's pipeline would)."""
    app = App(context=project_context({**NO_BUNDLING, **(overrides or {})}), outdir=str(outdir))
    settings = settings_from_context(app.node)
    stacks = [
        Alb502Stack(
            app,
            f"{STACK_NAME}-{region}",
            stack_name=settings.stack_name,
            settings=settings,
            env=Environment(account=ACCOUNT, region=region),
        )
        for region in REGIONS
    ]
    for stack in stacks:
        acknowledge_findings(stack)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    report = json.loads((outdir / "validation-report.json").read_text())
    synths = []
    for stack in stacks:
        path = outdir / f"{stack.artifact_id}.template.json"
        raw = json.loads(path.read_text())
        synths.append(Synth(outdir, path, raw, Template.from_json(raw), report))
    return synths
