"""Context settings and the Arrow-to-Glue type mapping (no synthesis)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from aws_cdk import App

from alb502.fields import ALB_LOGS_SCHEMA, REJECTS_SCHEMA
from infra.config import Settings, settings_from_context
from infra.glue_schema import ALB_LOGS_COLUMNS, REJECTS_COLUMNS, glue_columns, glue_type
from infra.saved_queries import load_saved_queries


def settings(context: dict[str, Any]) -> Settings:
    return settings_from_context(App(context=context).node)


def test_defaults() -> None:
    got = settings({})
    assert got == Settings()
    assert got.access_log_prefix == "AWSLogs/"
    assert got.load_balancers == ()


@pytest.mark.parametrize(
    "value",
    [
        "app/web/0123456789abcdef,app/api/fedcba9876543210",
        '["app/web/0123456789abcdef", "app/api/fedcba9876543210"]',
        ["app/web/0123456789abcdef", "app/api/fedcba9876543210"],
    ],
)
def test_load_balancers_from_cli_string_or_cdk_json_list(value: Any) -> None:
    assert settings({"loadBalancers": value}).load_balancers == (
        "app/web/0123456789abcdef",
        "app/api/fedcba9876543210",
    )


def test_numbers_from_cli_strings() -> None:
    got = settings(
        {
            "functionMemoryMb": "3008",
            "functionTimeoutSeconds": "600",
            "reservedConcurrency": "5",
            "maxConcurrency": "5",
            "errorRateThresholdPercent": "2.5",
            "logPrefix": "prod/",
        }
    )
    assert (got.function_memory_mb, got.function_timeout_seconds) == (3008, 600)
    assert (got.reserved_concurrency, got.max_concurrency) == (5, 5)
    assert got.error_rate_threshold_percent == 2.5
    assert got.access_log_prefix == "prod/AWSLogs/"


def test_reserved_concurrency_may_equal_max_concurrency() -> None:
    got = settings({"reservedConcurrency": 2, "maxConcurrency": 2})
    assert (got.reserved_concurrency, got.max_concurrency) == (2, 2)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"logPrefix": "prod"}, "end with '/'"),
        ({"logPrefix": "/prod/"}, "must not start"),
        ({"loadBalancers": "my-lb"}, "app/<name>/<id>"),
        ({"loadBalancers": "net/nlb/0123456789abcdef"}, "app/<name>/<id>"),
        ({"alarmEmail": "oncall"}, "e-mail"),
        ({"functionTimeoutSeconds": 901}, "1..900"),
        ({"maxConcurrency": 1}, "2..1000"),
        ({"batchSize": 11}, "1..10"),
        ({"glueDatabaseName": "ALB-502"}, "lower-case"),
        ({"stackName": "alb502 prod"}, "stackName"),
        ({"functionEphemeralStorageMb": 256}, "512..10240"),
        ({"athenaBytesScannedCutoff": 1000}, "10 MB"),
        ({"reservedConcurrency": 0}, "at least 1"),
        ({"notifications": "sns"}, "notifications must be one of s3, eventbridge"),
        ({"alarmTopicArn": "pager"}, "not an SNS topic ARN"),
        ({"alarmTopicArn": "arn:aws:sqs:us-east-1:111122223333:q"}, "not an SNS topic ARN"),
        ({"lakeExpirationDays": -1}, "lakeExpirationDays"),
        ({"causeAlarmThreshold": -1}, "causeAlarmThreshold"),
        # The default maxConcurrency is 10.
        (
            {"reservedConcurrency": 5},
            r"reservedConcurrency \(5\) must be at least maxConcurrency \(10\)",
        ),
        (
            {"reservedConcurrency": "3", "maxConcurrency": "4"},
            r"reservedConcurrency \(3\) must be at least maxConcurrency \(4\)",
        ),
    ],
)
def test_bad_values_are_refused_before_synthesis(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings(context)


@pytest.mark.parametrize(
    ("arrow", "glue"),
    [
        (pa.string(), "string"),
        (pa.int32(), "int"),
        (pa.int64(), "bigint"),
        (pa.float64(), "double"),
        (pa.timestamp("ms", tz="UTC"), "timestamp"),
        (pa.bool_(), "boolean"),
    ],
)
def test_glue_type(arrow: pa.DataType, glue: str) -> None:
    assert glue_type(arrow) == glue


def test_unmapped_arrow_type_is_an_error_not_a_guess() -> None:
    with pytest.raises(TypeError):
        glue_type(pa.list_(pa.string()))


def test_glue_columns_follow_the_writer_schemas() -> None:
    assert [c["name"] for c in ALB_LOGS_COLUMNS] == ALB_LOGS_SCHEMA.names
    assert [c["name"] for c in REJECTS_COLUMNS] == REJECTS_SCHEMA.names
    # The first 34 columns are AWS's own Athena table.
    assert [c["name"] for c in ALB_LOGS_COLUMNS[:3]] == ["type", "time", "elb"]
    assert ALB_LOGS_COLUMNS[33] == {"name": "conn_trace_id", "type": "string"}
    with pytest.raises(ValueError, match="partition"):
        glue_columns(pa.schema([pa.field("day", pa.string())]))


def test_saved_queries_have_descriptions() -> None:
    queries = load_saved_queries()
    assert len(queries) >= 7
    for query in queries:
        assert query.description and len(query.description) <= 1024
        assert not query.description.startswith("-")
        assert query.sql.lstrip().startswith("--")


def test_fleet_settings_from_context() -> None:
    got = settings(
        {
            "notifications": "eventbridge",
            "alarmTopicArn": "arn:aws:sns:eu-west-1:111122223333:pager",
            "lakeExpirationDays": "400",
            "errorCountThreshold": "50",
        }
    )
    assert got.notifications == "eventbridge"
    assert got.alarm_topic_arn == "arn:aws:sns:eu-west-1:111122223333:pager"
    assert (got.lake_expiration_days, got.error_count_threshold) == (400, 50)
    # Defaults that do not page on one stray 502.
    assert (Settings().cause_alarm_threshold, Settings().error_count_threshold) == (5, 25)
