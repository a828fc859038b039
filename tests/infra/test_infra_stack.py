"""What the stack deploys: buckets, queue, function, IAM, Glue and Athena."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match
from infra_synth import Synth

from infra.saved_queries import load_saved_queries

pytestmark = pytest.mark.slow


def resources(synth: Synth, kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in synth.raw["Resources"].items() if r["Type"] == kind}


def one(synth: Synth, kind: str, **match: Any) -> tuple[str, dict[str, Any]]:
    found = [
        (k, r)
        for k, r in resources(synth, kind).items()
        if all(r["Properties"].get(key) == value for key, value in match.items())
    ]
    assert len(found) == 1, (kind, match, [k for k, _ in found])
    return found[0]


def logical_id(synth: Synth, kind: str, prefix: str) -> str:
    (found,) = [k for k in resources(synth, kind) if k.startswith(prefix)]
    return found


def _private(bucket: dict[str, Any]) -> None:
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["DeletionPolicy"] == "Retain"


def _statements_of_bucket(synth: Synth, bucket_id: str) -> list[dict[str, Any]]:
    (policy,) = [
        p
        for p in resources(synth, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _tls_only(statements: list[dict[str, Any]]) -> bool:
    return any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


# -- log bucket ---------------------------------------------------------------


def test_new_log_bucket_is_ready_for_alb_delivery(default_synth: Synth) -> None:
    bucket_id = logical_id(default_synth, "AWS::S3::Bucket", "LogSourceBucket")
    bucket = default_synth.raw["Resources"][bucket_id]
    _private(bucket)
    (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 90 and rule["Status"] == "Enabled"

    statements = _statements_of_bucket(default_synth, bucket_id)
    assert _tls_only(statements)
    (delivery,) = [s for s in statements if s.get("Sid") == "AllowElbLogDelivery"]
    assert delivery["Action"] == "s3:PutObject"
    # Scoped to this account's AWSLogs/ folder, nothing wider.
    assert delivery["Resource"] == {
        "Fn::Join": [
            "",
            [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/AWSLogs/", {"Ref": "AWS::AccountId"}, "/*"],
        ]
    }
    assert default_synth.raw["Outputs"]["LogBucketName"]["Value"] == {"Ref": bucket_id}


def resolve(value: Any, region: str, template: dict[str, Any]) -> Any:
    """``value`` as CloudFormation would deploy it in ``region`` (the intrinsics used here)."""
    no_value = object()

    def ev(v: Any) -> Any:
        if isinstance(v, list):
            return [x for x in (ev(i) for i in v) if x is not no_value]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            ((name, arg),) = v.items()
            if name == "Ref":
                pseudo = {"AWS::Region": region, "AWS::Partition": "aws", "AWS::NoValue": no_value}
                return pseudo.get(arg, v)
            if name == "Fn::Join":
                return arg[0].join(ev(arg[1]))
            if name == "Fn::FindInMap":
                mapping, key1, key2 = ev(arg)
                return template["Mappings"][mapping][key1][key2]
            if name == "Fn::If":
                return ev(arg[1]) if ev({"Condition": arg[0]}) else ev(arg[2])
            if name == "Condition":
                return ev(template["Conditions"][arg])
            if name == "Fn::Equals":
                left, right = ev(arg)
                return left == right
            if name == "Fn::Or":
                return any(ev(arg))
        return {k: x for k, x in ((k, ev(x)) for k, x in v.items()) if x is not no_value}

    return ev(value)


@pytest.mark.parametrize(
    ("region", "principal"),
    [
        # Regions available before August 2022: also their ELB account (AWS's list).
        (
            "us-east-1",
            {
                "Service": "logdelivery.elasticloadbalancing.amazonaws.com",
                "AWS": "arn:aws:iam::127311923021:root",
            },
        ),
        (
            "eu-west-1",
            {
                "Service": "logdelivery.elasticloadbalancing.amazonaws.com",
                "AWS": "arn:aws:iam::156460612806:root",
            },
        ),
        # Opened later: the log-delivery service only.
        ("eu-central-2", {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
        ("ap-southeast-5", {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    ],
)
def test_log_delivery_is_allowed_in_legacy_and_new_regions(
    default_synth: Synth, region: str, principal: dict[str, str]
) -> None:
    bucket_id = logical_id(default_synth, "AWS::S3::Bucket", "LogSourceBucket")
    statements = _statements_of_bucket(default_synth, bucket_id)
    (delivery,) = [s for s in statements if s.get("Sid") == "AllowElbLogDelivery"]
    assert resolve(delivery["Principal"], region, default_synth.raw) == principal


def test_the_function_may_list_the_log_prefix(existing_synth: Synth) -> None:
    # Without s3:ListBucket, S3 answers a missing object with 403 AccessDenied.
    (listing,) = [
        s for s in _function_statements(existing_synth) if s.get("Sid") == "ListAccessLogs"
    ]
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["prod/AWSLogs/*"]}}


def test_new_bucket_notifies_the_queue_of_access_logs(default_synth: Synth) -> None:
    queue_id = logical_id(default_synth, "AWS::SQS::Queue", "ProcessorQueue")
    _, notification = one(default_synth, "Custom::S3BucketNotifications")
    assert notification["Properties"]["NotificationConfiguration"] == {
        "QueueConfigurations": [
            {
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "suffix", "Value": ".log.gz"},
                            {"Name": "prefix", "Value": "AWSLogs/"},
                        ]
                    }
                },
                "QueueArn": {"Fn::GetAtt": [queue_id, "Arn"]},
            }
        ]
    }


def test_existing_bucket_is_subscribed_without_taking_it_over(existing_synth: Synth) -> None:
    # Only the lake and the Athena results buckets are created.
    buckets = resources(existing_synth, "AWS::S3::Bucket")
    assert sorted(k.rstrip("0123456789ABCDEF") for k in buckets) == [
        "LakeAthenaResults",
        "LakeBucket",
    ]
    _, notification = one(existing_synth, "Custom::S3BucketNotifications")
    props = notification["Properties"]
    assert props["BucketName"] == "my-alb-logs"
    # Managed=false: the custom resource keeps other consumers' notifications.
    assert props["Managed"] is False
    (config,) = props["NotificationConfiguration"]["QueueConfigurations"]
    assert config["Events"] == ["s3:ObjectCreated:*"]
    assert config["Filter"]["Key"]["FilterRules"] == [
        {"Name": "suffix", "Value": ".log.gz"},
        {"Name": "prefix", "Value": "prod/AWSLogs/"},
    ]
    assert existing_synth.raw["Outputs"]["LogBucketName"]["Value"] == "my-alb-logs"


# -- queue and function -------------------------------------------------------


def test_queue_has_a_dead_letter_queue_and_outlasts_the_function(default_synth: Synth) -> None:
    queue_id = logical_id(default_synth, "AWS::SQS::Queue", "ProcessorQueue")
    dlq_id = logical_id(default_synth, "AWS::SQS::Queue", "ProcessorDeadLetterQueue")
    queue = default_synth.raw["Resources"][queue_id]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 5,
    }
    assert queue["VisibilityTimeout"] == 6 * 300
    for props in (queue, default_synth.raw["Resources"][dlq_id]["Properties"]):
        assert props["SqsManagedSseEnabled"] is True
    # S3 may send to it, only from the log bucket.
    default_synth.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": queue_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": Match.array_with(["sqs:SendMessage"]),
                                "Principal": {"Service": "s3.amazonaws.com"},
                                "Condition": {"ArnLike": {"aws:SourceArn": Match.any_value()}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_function_runtime_sizing_and_environment(default_synth: Synth) -> None:
    lake_id = logical_id(default_synth, "AWS::S3::Bucket", "LakeBucket")
    _, function = one(
        default_synth, "AWS::Lambda::Function", Handler="alb502.handler.lambda_handler"
    )
    props = function["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == 2048
    assert props["Timeout"] == 300
    assert props["EphemeralStorage"] == {"Size": 2048}
    assert "ReservedConcurrentExecutions" not in props
    assert props["Environment"]["Variables"] == {
        "ALB502_LAKE": {"Fn::Join": ["", ["s3://", {"Ref": lake_id}]]},
        "POWERTOOLS_METRICS_NAMESPACE": "ALB502",
        "POWERTOOLS_SERVICE_NAME": "alb502",
        "LOG_LEVEL": "INFO",
    }
    log_group_id = logical_id(default_synth, "AWS::Logs::LogGroup", "ProcessorLogGroup")
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": log_group_id}}
    assert default_synth.raw["Resources"][log_group_id]["Properties"]["RetentionInDays"] == 30

    _, mapping = one(default_synth, "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["BatchSize"] == 5
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 10}


def test_function_settings_come_from_context(existing_synth: Synth) -> None:
    _, function = one(
        existing_synth, "AWS::Lambda::Function", Handler="alb502.handler.lambda_handler"
    )
    props = function["Properties"]
    assert (props["MemorySize"], props["Timeout"], props["ReservedConcurrentExecutions"]) == (
        3008,
        120,
        4,
    )
    queue_id = logical_id(existing_synth, "AWS::SQS::Queue", "ProcessorQueue")
    assert existing_synth.raw["Resources"][queue_id]["Properties"]["VisibilityTimeout"] == 720
    _, mapping = one(existing_synth, "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["BatchSize"] == 2
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 3}


def _function_statements(synth: Synth) -> list[dict[str, Any]]:
    role_id = logical_id(synth, "AWS::IAM::Role", "ProcessorRole")
    role = synth.raw["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    assert "Policies" not in role
    (policy,) = [
        p
        for p in resources(synth, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_function_may_read_logs_write_the_lake_and_nothing_else(existing_synth: Synth) -> None:
    synth = existing_synth
    lake = {"Fn::GetAtt": [logical_id(synth, "AWS::S3::Bucket", "LakeBucket"), "Arn"]}
    queue = {"Fn::GetAtt": [logical_id(synth, "AWS::SQS::Queue", "ProcessorQueue"), "Arn"]}
    log_group = {
        "Fn::GetAtt": [logical_id(synth, "AWS::Logs::LogGroup", "ProcessorLogGroup"), "Arn"]
    }
    got = {
        json.dumps(sorted(s["Action"]) if isinstance(s["Action"], list) else [s["Action"]]): s[
            "Resource"
        ]
        for s in _function_statements(synth)
        if s["Action"] != "s3:ListBucket"
    }
    listing = {
        s.get("Sid"): s["Resource"]
        for s in _function_statements(synth)
        if s["Action"] == "s3:ListBucket"
    }
    assert listing == {
        "ListAccessLogs": {
            "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::my-alb-logs"]]
        },
        "ListLakePartitions": lake,
    }
    assert all(s["Effect"] == "Allow" for s in _function_statements(synth))
    assert got == {
        json.dumps(["logs:CreateLogStream", "logs:PutLogEvents"]): log_group,
        json.dumps(
            [
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
            ]
        ): queue,
        json.dumps(["s3:GetObject"]): {
            "Fn::Join": [
                "",
                ["arn:", {"Ref": "AWS::Partition"}, ":s3:::my-alb-logs/prod/AWSLogs/*"],
            ]
        },
        json.dumps(
            ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
        ): [
            {"Fn::Join": ["", [lake, "/_alb502_previous/*"]]},
            {"Fn::Join": ["", [lake, "/alb_errors/*"]]},
            {"Fn::Join": ["", [lake, "/alb_log_rejects/*"]]},
            {"Fn::Join": ["", [lake, "/alb_logs/*"]]},
        ],
    }


# -- lake, Glue, Athena -------------------------------------------------------


def test_lake_buckets_are_private_and_results_expire(default_synth: Synth) -> None:
    for prefix in ("LakeBucket", "LakeAthenaResults"):
        bucket_id = logical_id(default_synth, "AWS::S3::Bucket", prefix)
        _private(default_synth.raw["Resources"][bucket_id])
        assert _tls_only(_statements_of_bucket(default_synth, bucket_id))
    results_id = logical_id(default_synth, "AWS::S3::Bucket", "LakeAthenaResults")
    (rule,) = default_synth.raw["Resources"][results_id]["Properties"]["LifecycleConfiguration"][
        "Rules"
    ]
    assert rule["ExpirationInDays"] == 30
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_lake_aborts_incomplete_multipart_uploads_and_keeps_objects(
    default_synth: Synth,
) -> None:
    # The writer's upload_file goes multipart above 8 MB; a function killed
    # mid-upload would leave billed parts behind forever.
    lake_id = logical_id(default_synth, "AWS::S3::Bucket", "LakeBucket")
    rules = default_synth.raw["Resources"][lake_id]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rules == [
        {"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}, "Status": "Enabled"},
        # Only the copies a killed commit left behind expire; the tables never do.
        {"ExpirationInDays": 2, "Prefix": "_alb502_previous/", "Status": "Enabled"},
    ]


#: AWS's own Athena table ``alb_access_logs`` (34 columns, AWS's types), typed
#: out here rather than derived from the code under test, so a changed Arrow
#: type or a wrong mapping in infra/glue_schema.py fails.
AWS_ATHENA_COLUMNS: list[tuple[str, str]] = [
    ("type", "string"),
    ("time", "string"),
    ("elb", "string"),
    ("client_ip", "string"),
    ("client_port", "int"),
    ("target_ip", "string"),
    ("target_port", "int"),
    ("request_processing_time", "double"),
    ("target_processing_time", "double"),
    ("response_processing_time", "double"),
    ("elb_status_code", "int"),
    ("target_status_code", "string"),
    ("received_bytes", "bigint"),
    ("sent_bytes", "bigint"),
    ("request_verb", "string"),
    ("request_url", "string"),
    ("request_proto", "string"),
    ("user_agent", "string"),
    ("ssl_cipher", "string"),
    ("ssl_protocol", "string"),
    ("target_group_arn", "string"),
    ("trace_id", "string"),
    ("domain_name", "string"),
    ("chosen_cert_arn", "string"),
    ("matched_rule_priority", "string"),
    ("request_creation_time", "string"),
    ("actions_executed", "string"),
    ("redirect_url", "string"),
    ("lambda_error_reason", "string"),
    ("target_port_list", "string"),
    ("target_status_code_list", "string"),
    ("classification", "string"),
    ("classification_reason", "string"),
    ("conn_trace_id", "string"),
]
EXPECTED_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "alb_logs": [
        *AWS_ATHENA_COLUMNS,
        # Fields ALB added after AWS's table was written.
        ("transformed_host", "string"),
        ("transformed_uri", "string"),
        ("request_transform_status", "string"),
        ("ip_address", "string"),
        ("target_error_code", "string"),
        ("elb_error_code", "string"),
        # alb502's own: parsed time, the 502 tags, lineage.
        ("request_ts", "timestamp"),
        ("error_source", "string"),
        ("error_reason", "string"),
        ("cause", "string"),
        # causes.md v2 evidence and version.
        ("target_failure_run", "int"),
        ("target_gap_before_s", "double"),
        ("target_gap_after_s", "double"),
        ("tagger_version", "int"),
        # From the object key: organization-wide buckets mix accounts and regions.
        ("account_id", "string"),
        ("region", "string"),
        ("source_key", "string"),
        ("source_line", "bigint"),
    ],
    "alb_log_rejects": [
        ("source_key", "string"),
        ("source_line", "bigint"),
        ("raw_line", "string"),
        ("reason", "string"),
    ],
}


def test_expected_columns_start_with_aws_34() -> None:
    assert len(AWS_ATHENA_COLUMNS) == 34
    assert len(EXPECTED_COLUMNS["alb_logs"]) == 52


@pytest.mark.parametrize("table", ["alb_logs", "alb_errors", "alb_log_rejects"])
def test_glue_tables_describe_the_writer_schema(default_synth: Synth, table: str) -> None:
    lake_id = logical_id(default_synth, "AWS::S3::Bucket", "LakeBucket")
    (found,) = [
        r["Properties"]
        for r in resources(default_synth, "AWS::Glue::Table").values()
        if r["Properties"]["TableInput"]["Name"] == table
    ]
    assert found["DatabaseName"] == "alb502"
    table_input = found["TableInput"]
    descriptor = table_input["StorageDescriptor"]
    # alb_errors: the tagged rows of alb_logs, same columns.
    expected = EXPECTED_COLUMNS["alb_logs" if table == "alb_errors" else table]
    assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == expected
    assert [(k["Name"], k["Type"]) for k in table_input["PartitionKeys"]] == [("day", "string")]
    root = ["s3://", {"Ref": lake_id}, f"/{table}/"]
    assert descriptor["Location"] == {"Fn::Join": ["", root]}
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == (
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    )
    params = table_input["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.day.type"] == "date"
    assert params["projection.day.format"] == "yyyy-MM-dd"
    assert params["projection.day.range"] == "2015-01-01,NOW+1DAYS"
    assert params["storage.location.template"] == {
        "Fn::Join": ["", ["s3://", {"Ref": lake_id}, f"/{table}/day=${{day}}/"]]
    }
    assert table_input["TableType"] == "EXTERNAL_TABLE"


def test_athena_workgroup_enforces_v3_results_and_cutoff(default_synth: Synth) -> None:
    results_id = logical_id(default_synth, "AWS::S3::Bucket", "LakeAthenaResults")
    _, workgroup = one(default_synth, "AWS::Athena::WorkGroup")
    config = workgroup["Properties"]["WorkGroupConfiguration"]
    assert workgroup["Properties"]["Name"] == "alb502"
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert config["BytesScannedCutoffPerQuery"] == 10 * 1024**3
    assert config["ResultConfiguration"]["OutputLocation"] == {
        "Fn::Join": ["", ["s3://", {"Ref": results_id}, "/"]]
    }
    assert config["ResultConfiguration"]["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_S3"
    }


def test_every_saved_query_is_deployed_verbatim(default_synth: Synth) -> None:
    workgroup_id, _ = one(default_synth, "AWS::Athena::WorkGroup")
    deployed = {
        r["Properties"]["QueryString"]: r["Properties"]
        for r in resources(default_synth, "AWS::Athena::NamedQuery").values()
    }
    queries = load_saved_queries()
    assert len(queries) >= 7
    assert len(deployed) == len(queries)
    for query in queries:
        props = deployed[query.sql]
        assert props["Database"] == "alb502"
        assert props["WorkGroup"] == {"Ref": workgroup_id}
        assert props["Name"] == "alb502: " + query.name.replace("_", " ")
        assert props["Description"] == query.description
