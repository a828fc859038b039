"""``alb502 backfill``: the log root, the S3-shaped messages, the batch sender,
and end to end over moto's S3 and SQS with the event-source-mapping runner."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from aws_fixtures import moto_server, new_pipeline
from botocore.stub import Stubber

from alb502 import cli, reader
from alb502.backfill import (
    LogObject,
    LogRoot,
    log_root,
    notification,
    parse_day,
    queue_region,
    send_batch,
)
from alb502.dev.local import ACCOUNT, LocalAws, Pipeline, QueueRunner
from alb502.dev.traffic import generate_lines, object_key, write_object
from alb502.errors import BackfillError
from alb502.handler import object_refs

LB = "app/shop-prod/50dc6c495c0c9188"
OTHER_ACCOUNT = "210987654321"
#: Four days of history, recent enough for the handler's EMF window.
FIRST = datetime.now(UTC).date() - timedelta(days=4)
DAYS = [FIRST + timedelta(days=n) for n in range(4)]
#: The load balancers' log prefix; S3 encodes its space as "+" in notifications.
PREFIX = "prod logs/"


# -- the pieces ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "root"),
    [
        ("s3://logs", LogRoot("logs", "AWSLogs/")),
        ("s3://logs/", LogRoot("logs", "AWSLogs/")),
        ("s3://logs/prod", LogRoot("logs", "prod/AWSLogs/")),
        ("s3://logs/prod/AWSLogs", LogRoot("logs", "prod/AWSLogs/")),
        ("s3://logs/a/b/AWSLogs/123456789012/", LogRoot("logs", "a/b/AWSLogs/", "123456789012")),
        (
            "s3://logs/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/",
            LogRoot("logs", "AWSLogs/", "123456789012", "eu-west-1"),
        ),
    ],
)
def test_the_log_root_is_where_the_account_folders_are(uri: str, root: LogRoot) -> None:
    assert log_root(uri) == root


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("/local/dir", "not an s3:// URI"),
        ("s3://logs/AWSLogs/prod/", "not a 12-digit account id"),
        ("s3://logs/AWSLogs/123456789012/cloudtrail/", "not an ALB log folder"),
        ("s3://logs/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2026/", "--since"),
    ],
)
def test_a_bad_log_uri_is_one_clear_error(uri: str, message: str) -> None:
    with pytest.raises(BackfillError, match=message):
        log_root(uri)


@pytest.mark.parametrize("text", ["2026-13-01", "2026-02-30", "yesterday", "2026-1-5", ""])
def test_a_bad_day_is_refused(text: str) -> None:
    with pytest.raises(BackfillError, match="not a day"):
        parse_day(text)


def test_the_message_is_what_s3_sends_and_the_handler_reads_it_unchanged() -> None:
    key = (
        "prod logs/a+b/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2026/11/20/"
        "123456789012_elasticloadbalancing_us-east-1_app.web.1a2b_20261120T0005Z_10.0.0.1_x%y.log.gz"
    )
    obj = LogObject(
        "my-logs", key, 1234, "abc", datetime(2026, 11, 20, 0, 9, tzinfo=UTC), "us-east-1"
    )
    body = json.loads(notification(obj))
    (record,) = body["Records"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["eventTime"] == "2026-11-20T00:09:00.000Z"
    assert record["s3"]["bucket"]["name"] == "my-logs"
    assert record["s3"]["object"]["size"] == 1234
    # As S3 encodes keys in notifications: a space is "+", "+" and "%" are escaped.
    assert record["s3"]["object"]["key"].startswith("prod+logs/a%2Bb/AWSLogs/")
    assert record["s3"]["object"]["key"].endswith("_x%25y.log.gz")
    (ref,) = object_refs(body)
    assert (ref.bucket, ref.key) == ("my-logs", key)


def test_queue_region_comes_from_the_url() -> None:
    assert queue_region("https://sqs.eu-west-1.amazonaws.com/123456789012/q") == "eu-west-1"
    assert queue_region("https://us-east-2.queue.amazonaws.com/123456789012/q") == "us-east-2"
    assert queue_region("http://127.0.0.1:5000/123456789012/q") is None


@pytest.fixture
def stubbed_sqs() -> Iterator[tuple[Any, Stubber]]:
    import boto3

    client = boto3.session.Session().client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber


URL = "https://sqs.us-east-1.amazonaws.com/123456789012/q"


def test_failed_entries_of_a_batch_are_sent_again(stubbed_sqs: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed_sqs
    bodies = [f"m{n}" for n in range(3)]
    stubber.add_response(
        "send_message_batch",
        {
            "Successful": [
                {"Id": "0", "MessageId": "a", "MD5OfMessageBody": "x"},
                {"Id": "2", "MessageId": "c", "MD5OfMessageBody": "x"},
            ],
            "Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError"}],
        },
        {
            "QueueUrl": URL,
            "Entries": [{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies)],
        },
    )
    # Only the failed entry goes again.
    stubber.add_response(
        "send_message_batch",
        {"Successful": [{"Id": "1", "MessageId": "b", "MD5OfMessageBody": "x"}], "Failed": []},
        {"QueueUrl": URL, "Entries": [{"Id": "1", "MessageBody": "m1"}]},
    )
    waits: list[float] = []
    assert send_batch(client, URL, bodies, sleep=waits.append) == 2
    assert len(waits) == 1
    stubber.assert_no_pending_responses()


def test_a_sender_fault_stops_at_once(stubbed_sqs: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed_sqs
    stubber.add_response(
        "send_message_batch",
        {
            "Successful": [],
            "Failed": [
                {"Id": "0", "SenderFault": True, "Code": "InvalidMessageContents", "Message": "bad"}
            ],
        },
    )
    with pytest.raises(BackfillError, match="InvalidMessageContents"):
        send_batch(client, URL, ["m0"], sleep=lambda _: None)


def test_entries_failing_every_time_are_an_error(stubbed_sqs: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed_sqs
    for _ in range(3):
        stubber.add_response(
            "send_message_batch",
            {"Successful": [], "Failed": [{"Id": "0", "SenderFault": False, "Code": "Throttled"}]},
        )
    with pytest.raises(BackfillError, match="1 messages still failing after 3 sends"):
        send_batch(client, URL, ["m0"], attempts=3, sleep=lambda _: None)


def test_backfill_help_tells_the_truth(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["backfill", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for needle in ("--queue QUEUE_URL", "--since DAY", "--until DAY", "--dry-run", "QueueUrl"):
        assert needle in out
    assert "batches of 10" in out and "resume" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-02-30"], "not a day: '2026-02-30'"),
        (["--until", "soon"], "not a day: 'soon'"),
        ([], "--queue QUEUE_URL is required"),
    ],
)
def test_usage_errors_are_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = [] if not args else ["--queue", URL]
    assert cli.main(["backfill", "s3://logs/", *queue, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


# -- end to end over moto ----------------------------------------------------------


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with moto_server() as running:
        yield running


@pytest.fixture
def pipeline(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """A deployment whose log bucket already holds history: no notification
    for those objects, an empty queue."""
    made = new_pipeline(aws, monkeypatch)
    aws.client("s3").put_bucket_notification_configuration(
        Bucket=made.log_bucket, NotificationConfiguration={}
    )
    aws.client("sqs").purge_queue(QueueUrl=made.queue_url)  # the s3:TestEvent
    return made


@pytest.fixture
def history(aws: LocalAws, pipeline: Pipeline, tmp_path: Path) -> dict[str, tuple[date, int]]:
    """Four days of access logs from two accounts and two regions under
    ``PREFIX``, with connection and health check logs and the test file
    beside them; returns each access log's key -> (day folder, lines)."""
    s3 = aws.client("s3")
    logs: dict[str, tuple[date, int]] = {}
    origins = [(ACCOUNT, "us-east-1"), (ACCOUNT, "eu-west-1"), (OTHER_ACCOUNT, "us-east-1")]
    for n, day in enumerate(DAYS):
        for m, (account, region) in enumerate(origins):
            start = datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC)
            seed = 10 * n + m
            lines = list(
                generate_lines(
                    load_balancer=LB,
                    start=start,
                    lines=120,
                    seed=seed,
                    account=account,
                    region=region,
                )
            )
            key = PREFIX + object_key(
                account, region, LB, start + timedelta(minutes=5), "10.0.1.1", f"s{seed}"
            )
            path = tmp_path / f"{seed}.log.gz"
            write_object(path, lines)
            s3.upload_file(str(path), pipeline.log_bucket, key)
            logs[key] = (day, len(lines))
            folder = key.rsplit("/", 1)[0]
            for other in (f"conn_log_{seed}.log.gz", f"health_check_log_{seed}.log.gz"):
                s3.upload_file(
                    str(path),
                    pipeline.log_bucket,
                    f"{folder}/{account}_elasticloadbalancing_{region}_{other}",
                )
        s3.put_object(
            Bucket=pipeline.log_bucket,
            Key=f"{PREFIX}AWSLogs/{ACCOUNT}/ELBAccessLogTestFile",
            Body=b"",
        )
    # Something else in the bucket that a backfill must never list.
    s3.put_object(Bucket=pipeline.log_bucket, Key="other/AWSLogs/x.log.gz", Body=b"x")
    return logs


def lake_rows(aws: LocalAws, pipeline: Pipeline) -> tuple[dict[str, bytes], Counter[str]]:
    """Every lake file's bytes, and the alb_logs rows per source object key."""
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(Bucket=pipeline.lake_bucket).get("Contents", [])
    files = {
        o["Key"]: s3.get_object(Bucket=pipeline.lake_bucket, Key=o["Key"])["Body"].read()
        for o in listed
    }
    rows: Counter[str] = Counter()
    for key, data in files.items():
        if key.startswith("alb_logs/"):
            column = pq.read_table(io.BytesIO(data), columns=["source_key"]).column(0)
            for source in column.to_pylist():
                rows[source.removeprefix(f"s3://{pipeline.log_bucket}/")] += 1
    return files, rows


class ListingLog:
    """The ListObjectsV2 requests the CLI's S3 client makes."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.client = reader.s3_client()

    def __enter__(self) -> ListingLog:
        self.client.meta.events.register(
            "provide-client-params.s3.ListObjectsV2", self._record, unique_id="listing-log"
        )
        return self

    def __exit__(self, *_: object) -> None:
        self.client.meta.events.unregister(
            "provide-client-params.s3.ListObjectsV2", unique_id="listing-log"
        )

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(dict(params))


@pytest.mark.slow
def test_a_backfilled_range_lands_in_the_lake_exactly_once(
    aws: LocalAws,
    pipeline: Pipeline,
    history: dict[str, tuple[date, int]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    since, until = DAYS[1], DAYS[2]
    wanted = {key: lines for key, (day, lines) in history.items() if since <= day <= until}
    assert len(wanted) == 6
    args = ["backfill", f"s3://{pipeline.log_bucket}/{PREFIX}", "--queue", pipeline.queue_url]
    args += ["--since", str(since), "--until", str(until)]

    with ListingLog() as listing:
        assert cli.main(args) == 0
    out, err = capsys.readouterr()
    size = sum(
        o["Size"]
        for o in aws.client("s3").list_objects_v2(Bucket=pipeline.log_bucket)["Contents"]
        if o["Key"] in wanted
    )
    assert f"objects: 6  bytes: {size:,} " in out and "messages: 6 " in out
    assert f"last day completed: {until}" in out
    assert f"[1/2] {since}: queued 3 objects" in err
    assert f"[2/2] {until}: queued 3 objects" in err and "(total 6 objects" in err

    # Never the whole bucket: folder listings (with a delimiter) down to the
    # regions, then only the range's day folders.
    full = {c["Prefix"] for c in listing.calls if "Delimiter" not in c}
    day_folders = {
        f"{PREFIX}AWSLogs/{account}/elasticloadbalancing/{region}/{day:%Y/%m/%d}/"
        for account, region in [
            (ACCOUNT, "us-east-1"),
            (ACCOUNT, "eu-west-1"),
            (OTHER_ACCOUNT, "us-east-1"),
        ]
        for day in (since, until)
    }
    assert full == day_folders
    assert all(c["Prefix"].startswith(f"{PREFIX}AWSLogs/") for c in listing.calls)

    runner = QueueRunner(aws, pipeline)
    first = runner.drain()
    assert len(first.received) == 6 and first.failed == []
    files, rows = lake_rows(aws, pipeline)
    # Each in-range access log, whole, once; nothing of other days or kinds.
    assert rows == Counter(wanted)
    assert {key.split("/")[1] for key in files if key.startswith("alb_logs/")} <= {
        f"day={since}",
        f"day={until}",
    }

    # Backfilling the same range again rewrites the same files with the same rows.
    assert cli.main(args) == 0
    again = runner.drain()
    assert len(again.received) == 6 and again.failed == []
    files_again, rows_again = lake_rows(aws, pipeline)
    assert files_again.keys() == files.keys()
    assert rows_again == rows
    for key, data in files_again.items():
        assert pq.read_table(io.BytesIO(data)).equals(pq.read_table(io.BytesIO(files[key])))


@pytest.mark.slow
def test_without_since_the_days_are_discovered_and_dry_run_sends_nothing(
    aws: LocalAws,
    pipeline: Pipeline,
    history: dict[str, tuple[date, int]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["backfill", f"s3://{pipeline.log_bucket}/{PREFIX}AWSLogs/{ACCOUNT}/", "--dry-run"]
    assert cli.main([*args, "--until", str(DAYS[2])]) == 0
    out, err = capsys.readouterr()
    listed = [line.split("\t")[0] for line in out.splitlines() if line.startswith("s3://")]
    expected = sorted(
        f"s3://{pipeline.log_bucket}/{key}"
        for key, (day, _) in history.items()
        if day <= DAYS[2] and f"/{ACCOUNT}/" in key
    )
    assert sorted(listed) == expected and len(expected) == 6
    assert "messages: 0  (nothing sent (dry run))" in out
    assert f"[3/3] {DAYS[2]}: would queue 2 objects" in err
    attrs = aws.client("sqs").get_queue_attributes(
        QueueUrl=pipeline.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"


@pytest.mark.slow
def test_setup_errors_are_one_line_before_any_listing(
    aws: LocalAws,
    pipeline: Pipeline,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logs = f"s3://{pipeline.log_bucket}/{PREFIX}"
    gone = pipeline.queue_url.rsplit("/", 1)[0] + "/no-such-queue"

    def run(*args: str) -> str:
        with ListingLog() as listing:
            assert cli.main(["backfill", *args]) == 1
        assert listing.calls == []
        err = capsys.readouterr().err
        assert err.startswith("alb502: error: ") and "Traceback" not in err
        return err.splitlines()[0]

    assert run(logs, "--queue", gone) == f"alb502: error: {gone}: no such queue"
    reversed_range = ["--since", "2026-11-02", "--until", "2026-11-01"]
    assert run(logs, "--queue", pipeline.queue_url, *reversed_range) == (
        "alb502: error: --since 2026-11-02 is after --until 2026-11-01"
    )
    with monkeypatch.context() as patch:
        patch.delenv("AWS_ACCESS_KEY_ID")
        patch.delenv("AWS_SECRET_ACCESS_KEY")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        assert "no AWS credentials found" in run(logs, "--queue", pipeline.queue_url)


@pytest.mark.slow
def test_a_missing_bucket_or_empty_prefix_is_one_line(
    aws: LocalAws, pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = ["--queue", pipeline.queue_url]
    assert cli.main(["backfill", "s3://no-such-bucket-here/prod", *queue]) == 1
    assert capsys.readouterr().err == "alb502: error: s3://no-such-bucket-here: no such bucket\n"
    assert cli.main(["backfill", f"s3://{pipeline.log_bucket}/nothing/", *queue]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no elasticloadbalancing folders there" in err


@pytest.mark.slow
def test_a_stopped_backfill_resumes_from_the_day_after_the_last_completed(
    aws: LocalAws,
    pipeline: Pipeline,
    history: dict[str, tuple[date, int]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alb502 import backfill as module

    real_send = module.send_batch
    calls = []

    def send_then_fail(sqs: Any, queue_url: str, bodies: list[str], **kw: Any) -> int:
        calls.append(len(bodies))
        if len(calls) == 2:  # the second day's batch
            raise BackfillError(f"{queue_url}: 3 messages still failing after 5 sends")
        return real_send(sqs, queue_url, bodies, **kw)

    monkeypatch.setattr(module, "send_batch", send_then_fail)
    logs = f"s3://{pipeline.log_bucket}/{PREFIX}"
    queue = ["--queue", pipeline.queue_url]
    assert (
        cli.main(["backfill", logs, *queue, "--since", str(DAYS[0]), "--until", str(DAYS[2])]) == 1
    )
    err = capsys.readouterr().err.splitlines()
    assert err[-2].endswith("3 messages still failing after 5 sends")
    assert err[-1] == (f"alb502: last day completed: {DAYS[0]}; resume with --since {DAYS[1]}")

    monkeypatch.setattr(module, "send_batch", real_send)
    assert (
        cli.main(["backfill", logs, *queue, "--since", str(DAYS[1]), "--until", str(DAYS[2])]) == 0
    )
    assert QueueRunner(aws, pipeline).drain().failed == []
    _, rows = lake_rows(aws, pipeline)
    assert rows == Counter({key: n for key, (day, n) in history.items() if day <= DAYS[2]})
