"""The lake: Parquet bucket, Glue tables over it, Athena workgroup and queries.

The tables are never crawled or repaired: ``day`` is resolved by partition
projection, so a file the function writes is queryable the moment it lands.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from alb502.fields import ALB_ERRORS_TABLE, ALB_LOGS_TABLE, PARTITION_COLUMN, REJECTS_TABLE
from alb502.layout import PREVIOUS_PREFIX
from alb502.rejects import EARLIEST_DAY
from infra.buckets import private_bucket
from infra.glue_schema import ALB_LOGS_COLUMNS, REJECTS_COLUMNS
from infra.saved_queries import load_saved_queries

#: Days partition projection offers: the parser rejects entries dated
#: outside them (``time_out_of_range``), and files rejects inside them, so
#: every day written is queryable. ``NOW+1DAYS`` is the relative-date syntax
#: of https://docs.aws.amazon.com/athena/latest/ug/partition-projection-supported-types.html
#: (``NOW[{+|-}<n><unit>]``): entries up to a day ahead (clock skew) are kept.
PROJECTION_START = EARLIEST_DAY
PROJECTION_END = "NOW+1DAYS"
ATHENA_ENGINE = "Athena engine version 3"
_PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
_PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
_PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


class Lake(Construct):
    """Lake bucket, Glue database and tables, Athena workgroup and saved queries."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        database_name: str,
        workgroup_name: str,
        bytes_scanned_cutoff: int,
        results_expiration_days: int,
        expiration_days: int = 0,
    ) -> None:
        super().__init__(scope, construct_id)
        # The writer uploads with upload_file, multipart above 8 MB: a function
        # killed mid-upload leaves parts that are billed until aborted. Lake
        # objects expire after ``expiration_days`` (context
        # lakeExpirationDays); 0 keeps them forever.
        self.bucket = private_bucket(
            self,
            "Bucket",
            lifecycle_rules=[
                s3.LifecycleRule(
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                    expiration=Duration.days(expiration_days) if expiration_days else None,
                ),
                # Copies a commit set aside; left behind only when the function
                # was killed mid-commit (alb502.writer).
                s3.LifecycleRule(prefix=f"{PREVIOUS_PREFIX}/", expiration=Duration.days(2)),
            ],
        )
        self.results_bucket = private_bucket(
            self,
            "AthenaResults",
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(results_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        #: What the function's ALB502_LAKE points at (no trailing slash).
        self.uri = f"s3://{self.bucket.bucket_name}"

        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name,
                description="alb502: ALB access logs with every 502 tagged by cause.",
            ),
        )
        self.database_name = database_name
        self.logs_table = self._table(
            "LogsTable",
            ALB_LOGS_TABLE,
            ALB_LOGS_COLUMNS,
            "ALB access log entries, one row per line; 502s tagged with "
            "error_source, error_reason and cause.",
        )
        # Same columns, layout and projection as alb_logs, only the tagged
        # rows: Athena bills bytes scanned, and the error queries read this.
        self.errors_table = self._table(
            "ErrorsTable",
            ALB_ERRORS_TABLE,
            ALB_LOGS_COLUMNS,
            "The tagged rows of alb_logs only (cause IS NOT NULL: every 502 and "
            "every load-balancer 5xx), written with them: cheap error queries.",
        )
        self.rejects_table = self._table(
            "RejectsTable",
            REJECTS_TABLE,
            REJECTS_COLUMNS,
            "Log lines alb502 could not parse, verbatim, with the reason.",
        )

        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=workgroup_name,
            description="alb502: queries over the ALB access-log lake.",
            state="ENABLED",
            # Lets `cdk destroy` remove the workgroup with its saved queries.
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version=ATHENA_ENGINE
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results_bucket.bucket_name}/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                    expected_bucket_owner=Aws.ACCOUNT_ID,
                ),
            ),
        )

        self.saved_queries: list[athena.CfnNamedQuery] = []
        for query in load_saved_queries():
            named = athena.CfnNamedQuery(
                self,
                f"Query-{query.name}",
                name=f"alb502: {query.name.replace('_', ' ')}",
                # The description already names the ? parameters in order
                # (its "parameters:" line): the console prompts for them.
                description=query.description,
                database=database_name,
                query_string=query.sql,
                work_group=self.workgroup.ref,
            )
            named.node.add_dependency(self.database)
            self.saved_queries.append(named)

    def _table(
        self, construct_id: str, name: str, columns: list[dict[str, str]], description: str
    ) -> glue.CfnTable:
        root = f"s3://{self.bucket.bucket_name}/{name}/"
        table = glue.CfnTable(
            self,
            construct_id,
            catalog_id=Aws.ACCOUNT_ID,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=name,
                description=description,
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "parquet",
                    "EXTERNAL": "TRUE",
                    "projection.enabled": "true",
                    f"projection.{PARTITION_COLUMN}.type": "date",
                    f"projection.{PARTITION_COLUMN}.format": "yyyy-MM-dd",
                    f"projection.{PARTITION_COLUMN}.range": f"{PROJECTION_START},{PROJECTION_END}",
                    f"projection.{PARTITION_COLUMN}.interval": "1",
                    f"projection.{PARTITION_COLUMN}.interval.unit": "DAYS",
                    "storage.location.template": (
                        f"{root}{PARTITION_COLUMN}=${{{PARTITION_COLUMN}}}/"
                    ),
                },
                partition_keys=[
                    glue.CfnTable.ColumnProperty(
                        name=PARTITION_COLUMN,
                        type="string",
                        comment="UTC day of the entry's time, YYYY-MM-DD",
                    )
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[
                        glue.CfnTable.ColumnProperty(name=c["name"], type=c["type"])
                        for c in columns
                    ],
                    location=root,
                    input_format=_PARQUET_INPUT,
                    output_format=_PARQUET_OUTPUT,
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=_PARQUET_SERDE,
                        parameters={"serialization.format": "1"},
                    ),
                ),
            ),
        )
        table.node.add_dependency(self.database)
        return table

    def grant_write(self, grantee: iam.IGrantable) -> None:
        """Let ``grantee`` write (only) the three tables' files.

        The writer's commit is all or nothing (alb502.writer): it copies a
        file it replaces aside under ``_alb502_previous/`` (GetObject on the
        tables, the copy's Put/Get/Delete there), puts it back or deletes
        the new file on failure (DeleteObject), and needs ListBucket so a
        file that is not there yet answers 404, not 403.
        """
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteLakePartitions",
                actions=[
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:DeleteObject",
                    "s3:GetObject",
                ],
                resources=[
                    self.bucket.arn_for_objects(f"{ALB_LOGS_TABLE}/*"),
                    self.bucket.arn_for_objects(f"{ALB_ERRORS_TABLE}/*"),
                    self.bucket.arn_for_objects(f"{REJECTS_TABLE}/*"),
                    self.bucket.arn_for_objects(f"{PREVIOUS_PREFIX}/*"),
                ],
            )
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListLakePartitions",
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
            )
        )
