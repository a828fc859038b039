"""The Lambda handler: event shapes, skips, failures, deadlines (in-process S3).

The same handler runs against moto's server, over HTTP, in test_local_e2e.py.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote_plus

import pytest
from aws_fixtures import mocked_s3
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.response import StreamingBody

from alb502 import causes, handler, reader
from alb502.dev.local import FakeContext, sqs_event
from alb502.dev.traffic import generate_lines, object_key, write_object
from alb502.handler import ObjectRef, lambda_handler, object_refs, socket_timeout

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
    with mocked_s3(monkeypatch, BUCKET) as client:
        path = tmp_path / "object.log.gz"
        write_object(path, generate_lines(load_balancer=LB, start=START, lines=2000, seed=11))
        client.upload_file(str(path), BUCKET, KEY)
        yield client


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
    name = f"day={START:%Y-%m-%d}/{KEY.rsplit('/', 1)[1][: -len('.log.gz')]}.parquet"
    # The object has 502s: its tagged rows are in alb_errors too.
    assert lake_files(lake) == [f"alb_errors/{name}", f"alb_logs/{name}"]


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
    (line,) = [r.__dict__ for r in caplog.records if r.getMessage() == "object failed"]
    assert line["error"] == "Deadline" and line["retryable"] is True


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
    # The load balancer's other 5xx are counted apart from the 502s.
    assert isinstance(line["other_5xx"], dict)
    assert not set(line["other_5xx"]) - set(causes.CAUSES)
    assert line["duration_s"] >= 0


# Failures: one ERROR line each; deadlines kept ------------------------------


def test_each_failed_object_logs_one_error_line_in_the_sqs_path(
    s3: Any, lake: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = KEY.replace("k3y", "gone")
    response = lambda_handler(sqs_batch(s3_notification(missing)), context())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    (line,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert line.getMessage() == "object failed"
    fields = line.__dict__
    assert (fields["bucket"], fields["key"], fields["error"]) == (BUCKET, missing, "InputError")
    assert "cannot read S3 object (NoSuchKey)" in fields["error_message"]
    assert fields["retryable"] is False


def test_socket_timeouts_fit_in_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALB502_DEADLINE_MARGIN_SECONDS", "20")
    assert socket_timeout(None) is None
    assert socket_timeout(context(900)) == 60.0  # botocore's default, never more
    # 35 s left, 20 s margin: three attempts and two waits (1 s + 2 s) share the 15 s.
    assert socket_timeout(context(35)) == pytest.approx(12 / reader.S3_ATTEMPTS, abs=0.05)
    assert socket_timeout(context(20.5)) == 1.0
    config = reader.s3_client(timeout=3.7).meta.config
    assert (config.connect_timeout, config.read_timeout) == (3, 3)
    assert config.retries["total_max_attempts"] == reader.S3_ATTEMPTS


class Trickle:
    """A GET body that arrives 1 KiB at a time, ``delay`` seconds apart."""

    def __init__(self, data: bytes, delay: float) -> None:
        self._data = io.BytesIO(data)
        self._delay = delay

    def read(self, size: int = -1) -> bytes:
        time.sleep(self._delay)
        return self._data.read(1024 if size < 0 else min(size, 1024))

    def close(self) -> None:
        self._data.close()


class SlowS3:
    """The real (moto) client, with slow GET bodies and uploads that tell when they start."""

    def __init__(self, client: Any, get_delay: float = 0.0) -> None:
        self._client = client
        self._get_delay = get_delay
        self.uploads_started = 0

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        response = self._client.get_object(**kwargs)
        data = response["Body"].read()
        response["Body"] = StreamingBody(Trickle(data, self._get_delay), len(data))
        return response

    def upload_file(self, *args: Any, **kwargs: Any) -> None:
        self.uploads_started += 1
        self._client.upload_file(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_slow_get_is_abandoned_before_the_deadline(
    s3: Any, lake: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    slow = SlowS3(s3, get_delay=0.05)
    monkeypatch.setattr(handler, "s3_client", lambda timeout=None: slow)
    monkeypatch.setenv("ALB502_DEADLINE_MARGIN_SECONDS", "0.5")
    size = s3.head_object(Bucket=BUCKET, Key=KEY)["ContentLength"]
    assert size / 1024 * 0.05 > 4  # the whole GET would take more than 4 s
    started = time.monotonic()
    response = lambda_handler(sqs_batch(s3_notification(KEY)), context(seconds=1.5))
    elapsed = time.monotonic() - started
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert elapsed < 1.5
    assert lake_files(lake) == []
    (line,) = [r.__dict__ for r in caplog.records if r.getMessage() == "object failed"]
    assert line["error"] == "Deadline"


class TimeRunsOutOnUpload(FakeContext):
    """Plenty of time until the first upload starts, then 1 s (under the margin)."""

    def __init__(self, slow: SlowS3) -> None:
        super().__init__()
        self._slow = slow

    def get_remaining_time_in_millis(self) -> int:
        return 1_000 if self._slow.uploads_started else 600_000


def test_no_upload_goes_on_past_the_deadline(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lake in S3, so the uploads go through the (wrapped) client.
    s3.create_bucket(Bucket="lake")
    monkeypatch.setenv("ALB502_LAKE", "s3://lake/data")
    slow = SlowS3(s3)
    monkeypatch.setattr(handler, "s3_client", lambda timeout=None: slow)
    ctx = cast(LambdaContext, TimeRunsOutOnUpload(slow))
    response = lambda_handler(sqs_batch(s3_notification(KEY)), ctx)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert slow.uploads_started == 1
    assert s3.list_objects_v2(Bucket="lake").get("KeyCount") == 0


@pytest.fixture
def silent_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An endpoint on 127.0.0.1 that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reader.reset_clients()
    yield endpoint
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()
    reader.reset_clients()


def test_a_silent_s3_is_given_up_before_the_deadline(
    silent_s3: str, lake: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # 26 s left, 20 s margin: every attempt of the GET and the waits between
    # them must end within the 6 s before the margin (botocore's default read
    # timeout alone is 60 s, per attempt).
    monkeypatch.setenv("ALB502_DEADLINE_MARGIN_SECONDS", "20")
    started = time.monotonic()
    response = lambda_handler(sqs_batch(s3_notification(KEY)), context(seconds=26))
    elapsed = time.monotonic() - started
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert elapsed < 6.5
    (line,) = [r.__dict__ for r in caplog.records if r.getMessage() == "object failed"]
    assert line["error"] == "ReadInterrupted" and line["retryable"] is True
    assert "cannot read S3 object" in line["error_message"]
