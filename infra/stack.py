"""The alb502 stack: the ``Alb502`` construct and the outputs a user needs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import Settings
from infra.construct import Alb502
from infra.lake import Lake
from infra.log_source import LogSource
from infra.monitoring import Monitoring
from infra.processor import Processor


class Alb502Stack(Stack):
    """Everything one deployment of alb502 needs, in one region and account."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # "Default" is left out of logical ids: the resources keep the ids
        # they had before the construct existed, so an update replaces nothing.
        self.alb502 = Alb502(self, "Default", settings=settings)
        settings = self.alb502.settings

        CfnOutput(
            self,
            "LogBucketName",
            value=self.log_source.bucket.bucket_name,
            description="Point the load balancers' access logs here "
            f"(prefix '{settings.log_prefix.rstrip('/')}').",
        )
        CfnOutput(self, "LakeBucketName", value=self.lake.bucket.bucket_name)
        CfnOutput(self, "GlueDatabase", value=settings.glue_database_name)
        CfnOutput(self, "AthenaWorkGroup", value=self.lake.workgroup.ref)
        CfnOutput(
            self,
            "QueueUrl",
            value=self.processor.queue.queue_url,
            description="The queue the function reads; `alb502 backfill --queue` sends here.",
        )
        CfnOutput(self, "DeadLetterQueueUrl", value=self.processor.dead_letter_queue.queue_url)
        CfnOutput(self, "FunctionName", value=self.processor.function.function_name)
        CfnOutput(self, "DashboardName", value=self.monitoring.dashboard.dashboard_name)

    # The parts, as before the construct: tests and cdk-nag address them here.
    @property
    def settings(self) -> Settings:
        return self.alb502.settings

    @property
    def lake(self) -> Lake:
        return self.alb502.lake

    @property
    def log_source(self) -> LogSource:
        return self.alb502.log_source

    @property
    def processor(self) -> Processor:
        return self.alb502.processor

    @property
    def monitoring(self) -> Monitoring:
        return self.alb502.monitoring
