"""Where the access logs arrive: an existing bucket, or one this stack makes.

An existing bucket (context ``logBucketName``) is subscribed through CDK's
notification custom resource, which adds this app's queue configuration and
keeps every other consumer's. A new bucket gets what ALB log delivery
requires: SSE-S3, the log-delivery service principal allowed to write under
``<prefix>AWSLogs/<account>/``, and a lifecycle rule.

S3 allows one notification configuration per event type and prefix: a
bucket whose ObjectCreated events already go elsewhere (an organization's
log bucket, usually) uses EventBridge instead (context ``notifications``):
the bucket sends its events to EventBridge and a rule forwards new access
logs to the queue. The handler reads both message shapes.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.buckets import allow_elb_log_delivery, private_bucket
from infra.config import Settings

#: Access logs are gzip text; everything else under AWSLogs/ is skipped anyway.
ACCESS_LOG_SUFFIX = ".log.gz"


class LogSource(Construct):
    """The log bucket and its subscription to new access-log objects."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        bucket: s3.IBucket | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.prefix = settings.access_log_prefix
        self.event_bridge = settings.notifications == "eventbridge"
        self.rule: events.Rule | None = None
        self.created = bucket is None and not settings.log_bucket_name
        self.bucket: s3.IBucket
        if bucket is not None:
            self.bucket = bucket
        elif self.created:
            bucket = private_bucket(
                self,
                "Bucket",
                lifecycle_rules=[
                    s3.LifecycleRule(
                        expiration=Duration.days(settings.log_expiration_days),
                        abort_incomplete_multipart_upload_after=Duration.days(1),
                    )
                ],
            )
            allow_elb_log_delivery(bucket, f"{self.prefix}{Aws.ACCOUNT_ID}/*")
            self.bucket = bucket
        else:
            self.bucket = s3.Bucket.from_bucket_name(self, "Bucket", settings.log_bucket_name)

    def notify(self, queue: sqs.IQueue) -> None:
        """Send every new access-log object (any ObjectCreated event) to ``queue``."""
        if self.event_bridge:
            self._notify_through_event_bridge(queue)
            return
        # ALB uses PutObject, multipart upload and POST: subscribe to all.
        self.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(queue),
            s3.NotificationKeyFilter(prefix=self.prefix, suffix=ACCESS_LOG_SUFFIX),
        )

    def _notify_through_event_bridge(self, queue: sqs.IQueue) -> None:
        # Turning EventBridge on leaves the bucket's other notification
        # configurations as they are (same custom resource as above).
        self.bucket.enable_event_bridge_notification()
        # "Object Created" covers PutObject, POST, copy and multipart uploads.
        self.rule = events.Rule(
            self,
            "AccessLogCreated",
            description="alb502: new ALB access-log objects to the alb502 queue",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [self.bucket.bucket_name]},
                    "object": {"key": events.Match.wildcard(f"{self.prefix}*{ACCESS_LOG_SUFFIX}")},
                },
            ),
        )
        self.rule.add_target(targets.SqsQueue(queue))

    def grant_read_logs(self, grantee: iam.IGrantable) -> None:
        """Let ``grantee`` read the access-log objects and nothing else.

        ListBucket (on the log prefix only) makes S3 answer 404 NoSuchKey for
        a missing object: without it the answer is 403 AccessDenied, and a
        deleted object would look like a permissions problem.
        """
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadAccessLogs",
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(f"{self.prefix}*")],
            )
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListAccessLogs",
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.prefix}*"]}},
            )
        )
