"""cdk-nag acknowledgements: each AwsSolutions finding this app accepts, and why.

cdk-nag 3 reports through CDK's validation plugins and acknowledges findings
with ``Validations.of(construct).acknowledge(...)``; any finding not
acknowledged here fails ``cdk synth``. Findings are acknowledged on the one
construct they concern, never stack-wide, so a new resource cannot hide
behind an old reason.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

from alb502.fields import LAKE_TABLES
from alb502.layout import PREVIOUS_PREFIX
from infra.construct import Alb502
from infra.stack import Alb502Stack

_PREFIX = "AwsSolutions::"


def _ack(acks: list[tuple[str, str]], construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=_PREFIX + rule, reason=reason))
    acks.append((construct.node.path, rule))


def _object_arn(stack: Stack, bucket: s3.IBucket, pattern: str) -> str:
    """How cdk-nag spells ``bucket.arn_for_objects(pattern)`` in a finding id."""
    default = bucket.node.default_child
    if isinstance(default, CfnElement):
        return f"<{stack.get_logical_id(default)}.Arn>/{pattern}"
    return f"arn:<AWS::Partition>:s3:::{bucket.bucket_name}/{pattern}"


def acknowledge_findings(target: Alb502 | Alb502Stack) -> list[tuple[str, str]]:
    """Acknowledge the deliberate findings of one ``Alb502`` (or its stack).

    A CDK app of a user's own calls this on its ``Alb502`` construct.
    Returns ``(construct path, rule id)`` of each acknowledgement.
    """
    alb502 = target.alb502 if isinstance(target, Alb502Stack) else target
    stack = Stack.of(alb502)
    acks: list[tuple[str, str]] = []
    lake = alb502.lake
    no_access_logs = (
        "Server access logs would need yet another bucket; object access to this "
        "bucket is audited with CloudTrail S3 data events where an account wants it."
    )
    _ack(acks, lake.bucket, "AwsSolutions-S1", no_access_logs)
    _ack(acks, lake.results_bucket, "AwsSolutions-S1", no_access_logs)
    if alb502.log_source.created:
        _ack(acks, alb502.log_source.bucket, "AwsSolutions-S1", no_access_logs)

    policy = alb502.processor.role.node.find_child("DefaultPolicy")
    log_objects = _object_arn(
        stack, alb502.log_source.bucket, alb502.settings.access_log_prefix + "*"
    )
    _ack(
        acks,
        policy,
        f"AwsSolutions-IAM5[Resource::{log_objects}]",
        "Log objects get new names every 5 minutes; the read grant is GetObject "
        "limited to the <logPrefix>AWSLogs/ prefix ALB writes.",
    )
    for table in LAKE_TABLES:
        _ack(
            acks,
            policy,
            f"AwsSolutions-IAM5[Resource::{_object_arn(stack, lake.bucket, table + '/*')}]",
            f"Output files are named after each input object; PutObject is limited "
            f"to the {table}/ prefix of the lake.",
        )
    _ack(
        acks,
        policy,
        f"AwsSolutions-IAM5[Resource::{_object_arn(stack, lake.bucket, PREVIOUS_PREFIX + '/*')}]",
        "A commit copies the files it replaces aside under this prefix (outside "
        "every table) and deletes the copies once it has succeeded.",
    )

    _ack(
        acks,
        alb502.processor.function,
        "AwsSolutions-L1",
        "Pinned to python3.13 on purpose: the bundled pyarrow/isal wheels are cp313 builds.",
    )

    # CDK's own singleton that writes the bucket notification configuration.
    handler = next(
        child
        for child in stack.node.children
        if child.node.id.startswith("BucketNotificationsHandler")
    )
    _ack(
        acks,
        handler.node.find_child("Role"),
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]",
        "CDK's bucket-notification custom resource (not configurable) only writes "
        "its own CloudWatch logs with this policy.",
    )

    return acks
