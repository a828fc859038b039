"""Deployment settings, read from CDK context (``cdk.json`` or ``-c key=value``).

Every knob a user may turn lives here with its default, so the stack code
never reads context itself and the README can point at one place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aws_cdk import Token
from constructs import Node

from alb502.metric_names import DEFAULT_NAMESPACE

# Load balancer ids exactly as the ``elb`` log field and the ``LoadBalancer``
# dimension of AWS/ApplicationELB write them: app/<name>/<16 hex>.
_LOAD_BALANCER = re.compile(r"^app/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
#: How new log objects reach the queue: S3 event notifications on the bucket,
#: or EventBridge (for buckets whose notification configuration is taken).
NOTIFICATIONS = ("s3", "eventbridge")


@dataclass(frozen=True)
class Settings:
    """What one deployment of alb502 looks like."""

    #: CloudFormation stack name; also prefixes alarm and dashboard names.
    stack_name: str = "Alb502"
    #: Existing bucket the load balancers already log to; "" creates one.
    log_bucket_name: str = ""
    #: Prefix the load balancers were given ("" or ending in "/").
    log_prefix: str = ""
    #: Days a stack-created log bucket keeps raw logs.
    log_expiration_days: int = 90
    #: Glue database and Athena workgroup names (change both to deploy twice).
    glue_database_name: str = "alb502"
    athena_workgroup_name: str = "alb502"
    #: Days Athena query results are kept.
    athena_results_expiration_days: int = 30
    #: Athena refuses queries that would scan more than this.
    athena_bytes_scanned_cutoff: int = 10 * 1024**3
    function_memory_mb: int = 2048
    function_timeout_seconds: int = 300
    function_ephemeral_storage_mb: int = 2048
    #: Reserved concurrency of the function; None leaves it unreserved.
    reserved_concurrency: int | None = None
    #: Most concurrent invocations the queue's event source starts (2..1000).
    max_concurrency: int = 10
    batch_size: int = 5
    function_log_retention_days: int = 30
    #: "s3" (bucket notifications) or "eventbridge" (an EventBridge rule).
    notifications: str = "s3"
    #: Days the lake keeps Parquet files; 0 keeps them forever.
    lake_expiration_days: int = 0
    #: Load balancers (``app/<name>/<id>``) that get a 502-rate alarm.
    load_balancers: tuple[str, ...] = ()
    #: 502 rate (percent of requests) that breaches the rate alarm.
    error_rate_threshold_percent: float = 5.0
    #: Fewer requests than this in a period never breach the rate alarm.
    error_rate_min_requests: int = 20
    #: The fleet alarm: more 502s than this from one load balancer in a period.
    error_count_threshold: int = 25
    #: Cause alarms fire when a period counts more 502s of that cause than this.
    cause_alarm_threshold: int = 5
    #: Processing lag (seconds) that breaches the lag alarm.
    lag_threshold_seconds: int = 1800
    #: E-mail address subscribed to the alarm topic; "" creates no topic.
    alarm_email: str = ""
    #: Existing SNS topic every alarm also notifies; "" for none.
    alarm_topic_arn: str = ""
    #: Namespace of the custom metrics (the handler's POWERTOOLS_METRICS_NAMESPACE).
    metrics_namespace: str = DEFAULT_NAMESPACE
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,100}", self.stack_name):
            raise ValueError(f"stackName: letters, digits and - only: {self.stack_name!r}")
        if self.log_prefix and not self.log_prefix.endswith("/"):
            raise ValueError(f"logPrefix must be empty or end with '/': {self.log_prefix!r}")
        if self.log_prefix.startswith("/"):
            raise ValueError(f"logPrefix must not start with '/': {self.log_prefix!r}")
        for lb in self.load_balancers:
            # A token (an ALB of the same CDK app) is only known at deploy time.
            if not Token.is_unresolved(lb) and not _LOAD_BALANCER.match(lb):
                raise ValueError(f"loadBalancers entries look like app/<name>/<id>: {lb!r}")
        if self.alarm_email and not _EMAIL.match(self.alarm_email):
            raise ValueError(f"alarmEmail is not an e-mail address: {self.alarm_email!r}")
        if (
            self.alarm_topic_arn
            and not Token.is_unresolved(self.alarm_topic_arn)
            and not _TOPIC_ARN.match(self.alarm_topic_arn)
        ):
            raise ValueError(f"alarmTopicArn is not an SNS topic ARN: {self.alarm_topic_arn!r}")
        if self.notifications not in NOTIFICATIONS:
            raise ValueError(
                f"notifications must be one of {', '.join(NOTIFICATIONS)}: {self.notifications!r}"
            )
        if self.lake_expiration_days < 0:
            raise ValueError("lakeExpirationDays must be 0 (keep forever) or more")
        if self.cause_alarm_threshold < 0 or self.error_count_threshold < 0:
            raise ValueError("causeAlarmThreshold and errorCountThreshold must be 0 or more")
        # The queue's visibility timeout is 6x the function timeout and SQS
        # caps visibility at 12 hours; Lambda caps the timeout at 15 minutes.
        if not 1 <= self.function_timeout_seconds <= 900:
            raise ValueError("functionTimeoutSeconds must be 1..900")
        if not 128 <= self.function_memory_mb <= 10240:
            raise ValueError("functionMemoryMb must be 128..10240")
        if not 2 <= self.max_concurrency <= 1000:
            raise ValueError("maxConcurrency must be 2..1000 (an SQS event source limit)")
        if not re.fullmatch(r"[a-z0-9_]{1,255}", self.glue_database_name):
            raise ValueError("glueDatabaseName: lower-case letters, digits and _ only")
        if not 1 <= self.batch_size <= 10:
            raise ValueError("batchSize must be 1..10")
        if not 512 <= self.function_ephemeral_storage_mb <= 10240:
            raise ValueError("functionEphemeralStorageMb must be 512..10240")
        # Athena's smallest accepted cutoff is 10 MB.
        if self.athena_bytes_scanned_cutoff < 10_000_000:
            raise ValueError("athenaBytesScannedCutoff must be at least 10000000 (10 MB)")
        if self.reserved_concurrency is not None and self.reserved_concurrency < 1:
            raise ValueError("reservedConcurrency must be at least 1 (omit it for none)")
        # The event source would start more invocations than the function may
        # run: the rest are throttled, their messages return to the queue and,
        # after MAX_RECEIVE_COUNT receives, go to the dead-letter queue.
        if (
            self.reserved_concurrency is not None
            and self.reserved_concurrency < self.max_concurrency
        ):
            raise ValueError(
                f"reservedConcurrency ({self.reserved_concurrency}) must be at least "
                f"maxConcurrency ({self.max_concurrency}): the queue would start invocations "
                "the function may not run, and their messages would be throttled into the "
                "dead-letter queue. Raise reservedConcurrency or lower maxConcurrency."
            )

    @property
    def access_log_prefix(self) -> str:
        """Key prefix of every object ALB delivers: ``<logPrefix>AWSLogs/``."""
        return f"{self.log_prefix}AWSLogs/"


# context key -> (Settings field, converter)
_KEYS: dict[str, tuple[str, Any]] = {
    "stackName": ("stack_name", str),
    "logBucketName": ("log_bucket_name", str),
    "logPrefix": ("log_prefix", str),
    "logExpirationDays": ("log_expiration_days", int),
    "glueDatabaseName": ("glue_database_name", str),
    "athenaWorkGroupName": ("athena_workgroup_name", str),
    "athenaResultsExpirationDays": ("athena_results_expiration_days", int),
    "athenaBytesScannedCutoff": ("athena_bytes_scanned_cutoff", int),
    "functionMemoryMb": ("function_memory_mb", int),
    "functionTimeoutSeconds": ("function_timeout_seconds", int),
    "functionEphemeralStorageMb": ("function_ephemeral_storage_mb", int),
    "reservedConcurrency": ("reserved_concurrency", int),
    "maxConcurrency": ("max_concurrency", int),
    "batchSize": ("batch_size", int),
    "functionLogRetentionDays": ("function_log_retention_days", int),
    "errorRateThresholdPercent": ("error_rate_threshold_percent", float),
    "errorRateMinRequests": ("error_rate_min_requests", int),
    "causeAlarmThreshold": ("cause_alarm_threshold", int),
    "errorCountThreshold": ("error_count_threshold", int),
    "notifications": ("notifications", str),
    "lakeExpirationDays": ("lake_expiration_days", int),
    "alarmTopicArn": ("alarm_topic_arn", str),
    "lagThresholdSeconds": ("lag_threshold_seconds", int),
    "alarmEmail": ("alarm_email", str),
    "metricsNamespace": ("metrics_namespace", str),
    "logLevel": ("log_level", str),
}


def _load_balancers(value: Any) -> tuple[str, ...]:
    # `-c loadBalancers=a,b` arrives as a string; cdk.json can hold a list
    # or a JSON-encoded list.
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        text = value.strip()
        items = json.loads(text) if text.startswith("[") else text.split(",")
    else:
        items = list(value)
    return tuple(str(item).strip() for item in items if str(item).strip())


def settings_from_context(node: Node) -> Settings:
    """Read every known context key under ``node``; absent keys keep defaults."""
    values: dict[str, Any] = {}
    for key, (name, convert) in _KEYS.items():
        raw = node.try_get_context(key)
        if raw is None or (raw == "" and convert is not str):
            continue
        values[name] = convert(raw)
    values["load_balancers"] = _load_balancers(node.try_get_context("loadBalancers"))
    return Settings(**values)
