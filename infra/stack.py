"""The alb502 stack: log source -> queue -> function -> lake, plus monitoring."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import Settings
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
        self.settings = settings

        self.lake = Lake(
            self,
            "Lake",
            database_name=settings.glue_database_name,
            workgroup_name=settings.athena_workgroup_name,
            bytes_scanned_cutoff=settings.athena_bytes_scanned_cutoff,
            results_expiration_days=settings.athena_results_expiration_days,
        )
        self.log_source = LogSource(self, "LogSource", settings=settings)
        self.processor = Processor(self, "Processor", settings=settings, lake_uri=self.lake.uri)
        self.log_source.notify(self.processor.queue)
        self.log_source.grant_read_logs(self.processor.function)
        self.lake.grant_write(self.processor.function)

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            settings=settings,
            function=self.processor.function,
            queue=self.processor.queue,
            dead_letter_queue=self.processor.dead_letter_queue,
        )

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
        CfnOutput(self, "QueueUrl", value=self.processor.queue.queue_url)
        CfnOutput(self, "DeadLetterQueueUrl", value=self.processor.dead_letter_queue.queue_url)
        CfnOutput(self, "FunctionName", value=self.processor.function.function_name)
        CfnOutput(self, "DashboardName", value=self.monitoring.dashboard.dashboard_name)
