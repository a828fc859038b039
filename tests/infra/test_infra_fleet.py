"""Deploying into what a fleet already has: the Alb502 construct in a user's
own app, load balancers as tokens, an existing pager topic, EventBridge for
buckets whose notifications are taken, two regions, lake retention."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks
from infra_synth import NO_BUNDLING, Synth, project_context

from infra import app as infra_app
from infra import bundling
from infra.config import Settings
from infra.construct import Alb502
from infra.nag import acknowledge_findings

pytestmark = pytest.mark.slow


def resources(raw: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in raw["Resources"].items() if r["Type"] == kind}


def test_construct_in_a_users_app_with_token_load_balancers(tmp_path: Path) -> None:
    """An ALB of the same app (its full name is a token) gets its rate alarm."""
    app = App(context=project_context(NO_BUNDLING), outdir=str(tmp_path))
    stack = Stack(app, "Shop")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    alb = elbv2.ApplicationLoadBalancer(stack, "Alb", vpc=vpc)
    logs = s3.Bucket(stack, "Logs")
    pager = sns.Topic(stack, "Pager")
    alb502 = Alb502(
        stack,
        "Alb502",
        settings=Settings(stack_name="Shop", log_prefix="shop/"),
        log_bucket=logs,
        load_balancers=[alb.load_balancer_full_name],
        alarm_topic=pager,
    )
    assert alb502.log_source.bucket is logs
    acknowledge_findings(alb502)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    # The user's own VPC, ALB and bucket have findings of their own; none
    # may come from inside the construct.
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    paths = {c["constructPath"] for v in nag["violations"] for c in v["violatingConstructs"]}
    assert paths and not [p for p in paths if p.startswith("Shop/Alb502/")]
    raw = json.loads((tmp_path / "Shop.template.json").read_text())
    alb_id = next(iter(resources(raw, "AWS::ElasticLoadBalancingV2::LoadBalancer")))
    topic_id = next(iter(resources(raw, "AWS::SNS::Topic")))
    (rate,) = [
        a["Properties"]
        for a in resources(raw, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == "Shop-ErrorRate-1"
    ]
    for query in rate["Metrics"]:
        if "MetricStat" in query:
            assert query["MetricStat"]["Metric"]["Dimensions"] == [
                {"Name": "LoadBalancer", "Value": {"Fn::GetAtt": [alb_id, "LoadBalancerFullName"]}}
            ]
    for alarm in resources(raw, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    (notification,) = resources(raw, "Custom::S3BucketNotifications").values()
    (config,) = notification["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert {"Name": "prefix", "Value": "shop/AWSLogs/"} in config["Filter"]["Key"]["FilterRules"]


def test_a_bad_literal_load_balancer_is_still_refused() -> None:
    app = App(context=project_context(NO_BUNDLING))
    with pytest.raises(ValueError, match="app/<name>/<id>"):
        Alb502(Stack(app, "S"), "A", settings=Settings(), load_balancers=["web"])


def test_eventbridge_mode_routes_new_access_logs_to_the_queue(eventbridge_synth: Synth) -> None:
    raw = eventbridge_synth.raw
    (queue_id,) = [k for k in resources(raw, "AWS::SQS::Queue") if k.startswith("ProcessorQueue")]
    (notification,) = resources(raw, "Custom::S3BucketNotifications").values()
    props = notification["Properties"]
    assert props["BucketName"] == "org-alb-logs"
    assert props["Managed"] is False
    # Only EventBridge is turned on: no S3 -> SQS configuration that could
    # collide with the one the bucket already has.
    assert props["NotificationConfiguration"] == {"EventBridgeConfiguration": {}}
    (rule,) = resources(raw, "AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": ["org-alb-logs"]},
            "object": {"key": [{"wildcard": "AWSLogs/*.log.gz"}]},
        },
    }
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    # The queue lets exactly this rule send to it.
    (rule_id,) = resources(raw, "AWS::Events::Rule")
    (policy,) = [
        p
        for p in resources(raw, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert "sqs:SendMessage" in allow["Action"]
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}


def test_lake_retention(eventbridge_synth: Synth, default_synth: Synth) -> None:
    def lake_rules(synth: Synth) -> list[dict[str, Any]]:
        (lake,) = [
            r
            for k, r in resources(synth.raw, "AWS::S3::Bucket").items()
            if k.startswith("LakeBucket")
        ]
        rules: list[dict[str, Any]] = lake["Properties"]["LifecycleConfiguration"]["Rules"]
        # The tables' rule: the other one expires the commit's set-aside copies.
        return [r for r in rules if "Prefix" not in r]

    (rule,) = lake_rules(eventbridge_synth)
    assert rule["ExpirationInDays"] == 400
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    (rule,) = lake_rules(default_synth)
    assert "ExpirationInDays" not in rule


def test_queue_url_is_an_output(default_synth: Synth) -> None:
    (queue_id,) = [
        k for k in resources(default_synth.raw, "AWS::SQS::Queue") if k.startswith("ProcessorQueue")
    ]
    assert default_synth.raw["Outputs"]["QueueUrl"]["Value"] == {"Ref": queue_id}


def test_two_regions_name_nothing_alike(regions_synth: list[Synth]) -> None:
    """Account-wide names (IAM, dashboards) must differ between the regions."""
    east, west = (synth.raw for synth in regions_synth)
    for raw, region in ((east, "us-east-1"), (west, "eu-west-1")):
        for role in resources(raw, "AWS::IAM::Role").values():
            assert "RoleName" not in role["Properties"]  # CloudFormation makes unique ones
        (dashboard,) = resources(raw, "AWS::CloudWatch::Dashboard").values()
        assert dashboard["Properties"]["DashboardName"] == f"Alb502-{region}"


def test_synth_without_the_wheels_fails_with_one_readable_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make synth` on a machine whose pip cannot get the aarch64 wheels."""
    monkeypatch.setattr(bundling, "CACHE_ROOT", tmp_path / "lambda-deps")
    # pip finds nothing: no index, no local wheels.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("CDK_OUTDIR", str(tmp_path / "cdk.out"))
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps(project_context()))
    with pytest.raises(SystemExit) as exit_:
        infra_app.main()
    message = str(exit_.value.code)
    assert message.startswith("alb502: cannot install the Lambda bundle's")
    assert "\n" not in message
    assert "PyPI" in message
    assert "Traceback" not in capsys.readouterr().err
    # Nothing was synthesized.
    assert not (tmp_path / "cdk.out").exists()
