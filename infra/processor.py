"""Queue, dead-letter queue and the function that turns log objects into the lake.

S3 notifications are at-least-once and a direct invoke loses events when the
function fails or is throttled for long; the queue gives retries,
back-pressure and a dead-letter queue an alarm watches.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import lambda_code
from infra.config import Settings

HANDLER = "alb502.handler.lambda_handler"
SERVICE_NAME = "alb502"
#: A message is tried this many times before it goes to the dead-letter queue.
MAX_RECEIVE_COUNT = 5
#: AWS's advice for SQS event sources: visibility at least 6x the timeout,
#: so a batch retried after throttling is not redelivered while in flight.
VISIBILITY_FACTOR = 6

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs accepts only some retention periods; name one."""
    try:
        return _RETENTION[days]
    except KeyError:
        raise ValueError(f"functionLogRetentionDays must be one of {sorted(_RETENTION)}") from None


class Processor(Construct):
    """SQS queue + DLQ feeding the alb502 Lambda function."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, lake_uri: str
    ) -> None:
        super().__init__(scope, construct_id)
        timeout = Duration.seconds(settings.function_timeout_seconds)

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(
                VISIBILITY_FACTOR * settings.function_timeout_seconds
            ),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVE_COUNT
            ),
        )

        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=retention(settings.function_log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        # An explicit role instead of the default one, which would attach the
        # AWSLambdaBasicExecutionRole managed policy (logs:* on every group).
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="alb502 function: read access logs, write the lake, its own logs.",
        )
        self.log_group.grant_write(self.role)

        self.function = lambda_.Function(
            self,
            "Function",
            description="alb502: ALB access-log objects to the Parquet lake and 502 metrics",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=lambda_code(),
            memory_size=settings.function_memory_mb,
            timeout=timeout,
            # The Parquet writer stages files in /tmp before uploading them.
            ephemeral_storage_size=Size.mebibytes(settings.function_ephemeral_storage_mb),
            reserved_concurrent_executions=settings.reserved_concurrency,
            role=self.role,
            log_group=self.log_group,
            environment={
                "ALB502_LAKE": lake_uri,
                "POWERTOOLS_METRICS_NAMESPACE": settings.metrics_namespace,
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "LOG_LEVEL": settings.log_level,
            },
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=settings.batch_size,
                report_batch_item_failures=True,
                max_concurrency=settings.max_concurrency,
            )
        )
