"""The Lambda handler: event shapes, skips, failures, deadlines (in-process S3).

The same handler runs against moto's server, over HTTP, in test_local_e2e.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote_plus

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from moto import mock_aws

from alb502 import reader
from alb502.dev.local import FakeContext, sqs_event
from alb502.dev.traffic import generate_lines, object_key, write_object
from alb502.handler import ObjectRef, lambda_handler, object_refs

BUCKET = "alb-logs"
LB = "app/shop-prod/50dc6c495c0c9188"
START = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
KEY = object_key("123456789012", "us-east-1", LB, START + timedelta(minutes=5), "10.0.3.4", "k3y")


def s3_notification(
    key: str, bucket: str = BUCKET, event: str = "ObjectCreated:Put"
) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": event,
                "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key)}},
            }
        ]
    }


def eventbridge(key: str, bucket: str = BUCKET) -> dict[str, Any]:
    return {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}},
    }


def sqs_batch(*bodies: dict[str, Any]) -> dict[str, Any]:
    messages = [
        {"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": json.dumps(b), "MD5OfBody": "x"}
        for i, b in enumerate(bodies)
    ]
    return sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:alb502-objects")


def context(seconds: float = 300.0) -> LambdaContext:
    return cast(LambdaContext, FakeContext(seconds))


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALB502_LAKE", str(tmp_path / "lake"))
    return tmp_path / "lake"


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        reader._s3_client.cache_clear()
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        path = tmp_path / "object.log.gz"
        write_object(path, generate_lines(load_balancer=LB, start=START, lines=2000, seed=11))
        client.upload_file(str(path), BUCKET, KEY)
        yield client
    reader._s3_client.cache_clear()


def lake_files(lake: Path) -> list[str]:
    return sorted(str(p.relative_to(lake)) for p in lake.rglob("*.parquet"))


# Event shapes -------------------------------------------------------------


def test_s3_notification_keys_are_url_decoded() -> None:
    refs = object_refs(s3_notification("my logs/AWSLogs/a+b=c.log.gz"))
    assert refs == [ObjectRef(BUCKET, "my logs/AWSLogs/a+b=c.log.gz")]


def test_test_event_and_non_create_events_name_no_object() -> None:
    assert object_refs({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}) == []
    assert object_refs(s3_notification("k", event="ObjectRemoved:Delete")) == []


def test_eventbridge_and_sns_wrapped_notifications() -> None:
    assert object_refs(eventbridge("AWSLogs/x.log.gz")) == [ObjectRef(BUCKET, "AWSLogs/x.log.gz")]
    # EventBridge keys are not URL-encoded: a "+" stays a "+".
    assert object_refs(eventbridge("a+b/x%41.log.gz")) == [ObjectRef(BUCKET, "a+b/x%41.log.gz")]
    sns = {"Type": "Notification", "Message": json.dumps(s3_notification("AWSLogs/y.log.gz"))}
    assert object_refs(sns) == [ObjectRef(BUCKET, "AWSLogs/y.log.gz")]


def test_an_unknown_payload_is_an_error_not_a_silent_ack() -> None:
    with pytest.raises(ValueError, match="not an S3 notification"):
        object_refs({"hello": "world"})


# Invocations --------------------------------------------------------------


def test_sqs_batch_reports_only_the_failed_message(s3: Any, lake: Path) -> None:
    event = sqs_batch(
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET},
        s3_notification(KEY),
        s3_notification(KEY.replace("k3y", "missing")),
        s3_notification("AWSLogs/123456789012/ELBAccessLogTestFile"),
        {"not": "a notification"},
    )
    response = lambda_handler(event, context())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m4"}]}
    assert lake_files(lake) == [
        f"alb_logs/day={START:%Y-%m-%d}/{KEY.rsplit('/', 1)[1][: -len('.log.gz')]}.parquet"
    ]


def test_an_all_failed_batch_is_reported_not_raised(s3: Any, lake: Path) -> None:
    missing = sqs_batch(
        s3_notification(KEY.replace("k3y", "gone1")), s3_notification(KEY.replace("k3y", "gone2"))
    )
    assert lambda_handler(missing, context()) == {
        "batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]
    }


def test_direct_s3_and_eventbridge_invocations(s3: Any, lake: Path) -> None:
    assert lambda_handler(s3_notification(KEY), context()) == {"objects": 1}
    first = {p: (lake / p).read_bytes() for p in lake_files(lake)}
    assert lambda_handler(eventbridge(KEY), context()) == {"objects": 1}
    assert {p: (lake / p).read_bytes() for p in lake_files(lake)} == first
    # Asynchronous invocations raise, so Lambda retries them.
    with pytest.raises(RuntimeError, match="1 of 1 objects failed"):
        lambda_handler(eventbridge(KEY.replace("k3y", "gone")), context())


class Expiring:
    """A context with plenty of time at the first look and none after."""

    function_name = "alb502"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:alb502"
    memory_limit_in_mb = 1024
    aws_request_id = "req"
    log_group_name = "/aws/lambda/alb502"
    log_stream_name = "s"

    def __init__(self) -> None:
        self.calls = 0

    def get_remaining_time_in_millis(self) -> int:
        self.calls += 1
        return 600_000 if self.calls == 1 else 1_000


def test_running_out_of_time_fails_the_message_and_writes_nothing(
    s3: Any, lake: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = Expiring()
    response = lambda_handler(sqs_batch(s3_notification(KEY)), cast(LambdaContext, ctx))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert ctx.calls >= 2
    assert lake_files(lake) == []
    assert any(r.getMessage().startswith("time ran out") for r in caplog.records)


def test_too_little_time_left_fails_before_starting(s3: Any, lake: Path) -> None:
    response = lambda_handler(sqs_batch(s3_notification(KEY)), context(seconds=5))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert lake_files(lake) == []


def test_skipped_objects_are_logged_with_their_kind(
    s3: Any, lake: Path, caplog: pytest.LogCaptureFixture
) -> None:
    test_file = "AWSLogs/123456789012/ELBAccessLogTestFile"
    assert lambda_handler(sqs_batch(s3_notification(test_file)), context()) == {
        "batchItemFailures": []
    }
    (line,) = [r.__dict__ for r in caplog.records if r.getMessage() == "skipped: not an access log"]
    assert (line["key"], line["kind"]) == (test_file, "test_file")
    assert lake_files(lake) == []


def test_one_log_line_per_object(s3: Any, lake: Path, caplog: pytest.LogCaptureFixture) -> None:
    lambda_handler(sqs_batch(s3_notification(KEY)), context())
    (line,) = [r.__dict__ for r in caplog.records if r.getMessage() == "processed"]
    assert line["key"] == KEY
    assert line["lines"] == 2000 and line["rows"] == 2000 and line["rejects"] == 0
    assert sum(line["causes"].values()) == line["elb_502"] + line["target_502"] > 0
    assert line["duration_s"] >= 0
