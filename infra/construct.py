"""``Alb502``: the whole pipeline as one construct for any CDK app.

Log source -> queue -> function -> lake, plus alarms and the dashboard.
``Alb502Stack`` (the ``cdk deploy`` of this repository) is this construct in
a stack of its own; a fleet's CDK app can instead put it beside the load
balancers it watches, passing their bucket, their full names (tokens are
fine) and the SNS topic that pages::

    Alb502(
        self,
        "Alb502",
        settings=Settings(stack_name="web", log_prefix="prod/"),
        log_bucket=logs_bucket,
        load_balancers=[alb.load_balancer_full_name],
        alarm_topic=pager_topic,
    )
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import Settings
from infra.lake import Lake
from infra.log_source import LogSource
from infra.monitoring import Monitoring
from infra.processor import Processor


class Alb502(Construct):
    """One deployment of alb502 in one account and region.

    ``log_bucket``, ``load_balancers`` and ``alarm_topic`` override the
    settings' ``logBucketName``, ``loadBalancers`` and ``alarmTopicArn``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        log_bucket: s3.IBucket | None = None,
        load_balancers: Sequence[str] | None = None,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if load_balancers is not None:
            # Validated like the context setting (tokens pass through).
            settings = dataclasses.replace(settings, load_balancers=tuple(load_balancers))
        self.settings = settings

        self.lake = Lake(
            self,
            "Lake",
            database_name=settings.glue_database_name,
            workgroup_name=settings.athena_workgroup_name,
            bytes_scanned_cutoff=settings.athena_bytes_scanned_cutoff,
            results_expiration_days=settings.athena_results_expiration_days,
            expiration_days=settings.lake_expiration_days,
        )
        self.log_source = LogSource(self, "LogSource", settings=settings, bucket=log_bucket)
        self.processor = Processor(self, "Processor", settings=settings, lake_uri=self.lake.uri)
        self.log_source.notify(self.processor.queue)
        self.log_source.grant_read_logs(self.processor.function)
        self.lake.grant_write(self.processor.function)

        if alarm_topic is None and settings.alarm_topic_arn:
            alarm_topic = sns.Topic.from_topic_arn(self, "AlarmTopic", settings.alarm_topic_arn)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            settings=settings,
            function=self.processor.function,
            queue=self.processor.queue,
            dead_letter_queue=self.processor.dead_letter_queue,
            alarm_topic=alarm_topic,
        )
