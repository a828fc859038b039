"""End to end over HTTP: moto's server as S3 and SQS, S3 -> SQS notifications,
the event-source-mapping runner, ``lambda_handler``, the lake in S3, EMF on stdout.
"""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pyarrow.parquet as pq
import pytest
from aws_fixtures import moto_server, new_pipeline

from alb502 import cli, handler
from alb502.dev.local import (
    ACCOUNT,
    REGION,
    LocalAws,
    Pipeline,
    QueueRunner,
    download_prefix,
)
from alb502.dev.traffic import CAUSE_OF_KIND, generate_lines, object_key, write_object
from alb502.metrics import parse_emf

pytestmark = pytest.mark.slow

LB = "app/shop-prod/50dc6c495c0c9188"
# Recent enough for every minute to be inside CloudWatch's EMF window.
START = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
CAUSES = set(CAUSE_OF_KIND.values())
BAD_LINES = ["this is not an ALB log line", 'https 2026-11-20T12:00:00.000000Z "truncated']


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with moto_server() as running:
        yield running


@pytest.fixture
def pipeline(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    return new_pipeline(aws, monkeypatch)


def make_object(
    tmp: Path, seed: int, lines: int = 3000, prefix: str = ""
) -> tuple[str, Path, list[str]]:
    """A generated object (plus two broken lines) and its ALB key."""
    start = START + timedelta(minutes=5 * seed)
    text = list(generate_lines(load_balancer=LB, start=start, lines=lines, seed=seed))
    text[100:100] = BAD_LINES
    key = prefix + object_key(
        ACCOUNT, REGION, LB, start + timedelta(minutes=5), "10.0.7.7", f"s{seed}"
    )
    # The local copy carries the object's own name, as a downloaded log would.
    path = tmp / key.rsplit("/", 1)[1]
    write_object(path, text)
    return key, path, text


def receive_all(runner: QueueRunner, count: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for _ in range(20):
        messages += runner.receive(wait_seconds=1)
        if len(messages) >= count:
            break
    assert len(messages) == count
    return messages


def lake_snapshot(aws: LocalAws, pipeline: Pipeline) -> dict[str, bytes]:
    s3 = aws.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=pipeline.lake_bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=pipeline.lake_bucket, Key=k)["Body"].read() for k in keys}


def count_rows(files: dict[str, bytes], table: str) -> int:
    return sum(
        pq.read_metadata(io.BytesIO(data)).num_rows
        for key, data in files.items()
        if key.startswith(f"{table}/")
    )


def test_mixed_batch_fails_only_the_missing_object(
    aws: LocalAws, pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3, sqs = aws.client("s3"), aws.client("sqs")
    key, path, text = make_object(tmp_path, seed=1)
    s3.upload_file(str(path), pipeline.log_bucket, key)
    s3.put_object(
        Bucket=pipeline.log_bucket,
        Key=key.replace(
            f"/{ACCOUNT}_elasticloadbalancing", f"/conn_log.{ACCOUNT}_elasticloadbalancing"
        ),
        Body=gzip.compress(b"a connection log\n"),
    )
    missing_key = key.replace("_s1.", "_gone.")
    notification = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": pipeline.log_bucket},
                    "object": {"key": quote_plus(missing_key)},
                },
            }
        ]
    }
    missing_id = sqs.send_message(
        QueueUrl=pipeline.queue_url, MessageBody=json.dumps(notification)
    )["MessageId"]
    runner = QueueRunner(aws, pipeline)
    messages = receive_all(runner, 4)  # test event, log object, connection log, missing
    assert sum('"s3:TestEvent"' in m["Body"] for m in messages) == 1
    capsys.readouterr()

    outcome = runner.invoke(messages)

    assert outcome.failed == [missing_id]
    emf = parse_emf(capsys.readouterr().out.splitlines())
    # The succeeded messages are gone; the failed one comes back later.
    attrs = sqs.get_queue_attributes(QueueUrl=pipeline.queue_url, AttributeNames=["All"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"

    # Every line is in exactly one table.
    lake = lake_snapshot(aws, pipeline)
    rejects = count_rows(lake, "alb_log_rejects")
    assert rejects == len(BAD_LINES)
    assert count_rows(lake, "alb_logs") == len(text) - rejects

    # EMF: the contracted shape, and the 502s of the input by cause.
    assert {p.namespace for p in emf} == {"ALB502"}
    assert {(p.metric, tuple(k for k, _ in p.dimensions)) for p in emf} == {
        ("Requests", ("LoadBalancer",)),
        ("ELB502", ("LoadBalancer",)),
        ("Target502", ("LoadBalancer",)),
        ("Errors502", ("LoadBalancer", "Cause")),
        ("ELB5xxOther", ("LoadBalancer", "Cause")),
        ("LinesParsed", ()),
        ("LinesRejected", ()),
        ("ObjectsProcessed", ()),
        ("ProcessingLag", ()),
        ("ObjectsSkipped", ()),
    }
    statuses = Counter(line.split(" ")[8] for line in text if line not in BAD_LINES)
    targets = sum(1 for line in text if line.split(" ")[8:10] == ["502", "502"])
    by_cause = Counter[str]()
    for p in emf:
        if p.metric == "Errors502":
            by_cause[dict(p.dimensions)["Cause"]] += int(p.value)
    assert sum(by_cause.values()) == statuses["502"] > 15
    assert len(by_cause) >= 12
    totals = Counter[str]()
    for p in emf:
        totals[p.metric] += int(p.value)
    assert totals["Requests"] == len(text) - rejects
    assert totals["Target502"] == targets
    assert totals["ELB502"] == statuses["502"] - targets
    assert totals["LinesParsed"] == len(text) - rejects
    assert totals["LinesRejected"] == rejects
    assert (totals["ObjectsProcessed"], totals["ObjectsSkipped"]) == (1, 1)
    assert all(p.timestamp.second == 0 for p in emf if p.dimensions)


def test_the_same_message_twice_leaves_the_lake_unchanged(
    aws: LocalAws, pipeline: Pipeline, tmp_path: Path
) -> None:
    s3, sqs = aws.client("s3"), aws.client("sqs")
    key, path, _ = make_object(tmp_path, seed=2)
    s3.upload_file(str(path), pipeline.log_bucket, key)
    runner = QueueRunner(aws, pipeline)
    messages = receive_all(runner, 2)
    assert runner.invoke(messages).failed == []
    first = lake_snapshot(aws, pipeline)
    assert first

    (body,) = [m["Body"] for m in messages if "s3:TestEvent" not in m["Body"]]
    sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=body)
    assert runner.drain().failed == []

    again = lake_snapshot(aws, pipeline)
    assert again.keys() == first.keys()
    for name, data in again.items():
        if data != first[name]:  # same content is enough if bytes differ
            assert pq.read_table(io.BytesIO(data)).equals(pq.read_table(io.BytesIO(first[name])))


def test_a_key_with_a_space_is_found(aws: LocalAws, pipeline: Pipeline, tmp_path: Path) -> None:
    s3 = aws.client("s3")
    key, path, text = make_object(tmp_path, seed=3, lines=500, prefix="prod logs/")
    s3.upload_file(str(path), pipeline.log_bucket, key)
    runner = QueueRunner(aws, pipeline)
    messages = receive_all(runner, 2)
    assert any("prod+logs" in m["Body"] for m in messages)  # S3 encodes the space
    assert runner.invoke(messages).failed == []
    lake = lake_snapshot(aws, pipeline)
    assert count_rows(lake, "alb_logs") == len(text) - len(BAD_LINES)


def test_the_lambda_lake_equals_the_cli_lake(
    aws: LocalAws, pipeline: Pipeline, tmp_path: Path
) -> None:
    """Same objects, same files and rows, whether the handler or `alb502 process` wrote them."""
    s3 = aws.client("s3")
    paths = []
    for seed in (4, 5):
        key, path, _ = make_object(tmp_path, seed=seed, lines=400)
        s3.upload_file(str(path), pipeline.log_bucket, key)
        paths.append(path)
    assert QueueRunner(aws, pipeline).drain().failed == []
    download_prefix(aws, pipeline.lake_bucket, "", tmp_path / "lambda-lake")
    assert cli.main(["process", "-q", "--out", str(tmp_path / "cli-lake"), *map(str, paths)]) == 0

    def contents(root: Path) -> dict[str, list[tuple[object, ...]]]:
        found = {}
        for file in sorted(root.rglob("*.parquet")):
            table = pq.read_table(file).drop_columns(["source_key"]).sort_by("source_line")
            found[str(file.relative_to(root))] = [tuple(r.values()) for r in table.to_pylist()]
        return found

    lambda_lake, cli_lake = contents(tmp_path / "lambda-lake"), contents(tmp_path / "cli-lake")
    assert sorted(lambda_lake) == sorted(cli_lake)
    assert len([name for name in cli_lake if name.startswith("alb_logs/day=")]) == 2
    assert lambda_lake == cli_lake


def test_the_demo_runs_and_explains_the_502s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from alb502.dev import demo

    monkeypatch.chdir(tmp_path)
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    causes = {c for c in CAUSES if f"  {c} (" in out}  # the "What to do" lines
    assert len(causes) >= 4
    assert "Timeline (UTC" in out
    assert "ALB502  LoadBalancer=app/shop-prod/50dc6c495c0c9188" in out
    assert (tmp_path / "demo-lake" / "alb_logs").is_dir()
    if demo.AWS_EXAMPLES.is_file():  # AWS's examples ride along, moved into the demo day
        assert "LoadBalancer=app/my-loadbalancer/50dc6c495c0c9188" in out
    assert "Try next:" in out
    # It ends with the on-call report, and its HTML page where it says.
    assert "What rose against the baseline" in out.rsplit("CloudWatch metrics", 1)[1]
    assert "HTML report (open it in a browser): ./demo-lake/report.html" in out
    assert (tmp_path / "demo-lake" / "report.html").read_text().startswith("<!doctype html>")


def test_the_cli_reads_a_prefix_and_writes_an_s3_lake(
    aws: LocalAws, pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws.client("s3")
    key, path, _ = make_object(tmp_path, seed=6, lines=300, prefix="cli/")
    s3.upload_file(str(path), pipeline.log_bucket, key)
    s3.put_object(Bucket=pipeline.log_bucket, Key="cli/ELBAccessLogTestFile", Body=b"test")
    lake = f"s3://{pipeline.lake_bucket}/from-cli"
    assert cli.main(["process", "--out", lake, f"s3://{pipeline.log_bucket}/cli/"]) == 0
    out = capsys.readouterr().out
    assert "skipped (not access logs): 1 test_file" in out
    # `alb502 report` reads local lakes only: no hint pointing it at S3.
    assert f"lake: {lake}\n" in out + "\n" and "next:" not in out
    written = s3.list_objects_v2(Bucket=pipeline.lake_bucket, Prefix="from-cli/alb_logs/")
    assert [o["Key"].rsplit("/", 1)[1] for o in written["Contents"]] == [
        path.name.removesuffix(".log.gz") + ".parquet"
    ]


class FailingSecondUpload:
    """The function's S3 client (over HTTP, to moto's server) whose 2nd upload fails."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.uploads = 0

    def upload_file(self, *args: Any, **kwargs: Any) -> None:
        self.uploads += 1
        if self.uploads == 2:
            raise ConnectionResetError(104, "Connection reset by peer")
        self._client.upload_file(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_failed_redelivery_keeps_the_lake_as_it_was(
    aws: LocalAws, pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = aws.client("s3")
    key, path, _ = make_object(tmp_path, seed=6, lines=500)
    s3.upload_file(str(path), pipeline.log_bucket, key)
    assert QueueRunner(aws, pipeline).drain().failed == []
    before = lake_snapshot(aws, pipeline)
    assert len(before) == 3  # alb_logs, alb_errors (its tagged rows) and the rejects

    # The same key again, with other content; the second of its three uploads fails.
    (tmp_path / "v2").mkdir()
    _, other, _ = make_object(tmp_path / "v2", seed=7, lines=600)
    s3.upload_file(str(other), pipeline.log_bucket, key)
    real = handler.s3_client
    flaky: list[FailingSecondUpload] = []

    def failing_client(timeout: float | None = None) -> FailingSecondUpload:
        flaky.append(FailingSecondUpload(real() if timeout is None else real(timeout=timeout)))
        return flaky[-1]

    monkeypatch.setattr(handler, "s3_client", failing_client)
    outcome = QueueRunner(aws, pipeline).drain()

    assert len(outcome.failed) == 1 and flaky[-1].uploads == 2
    assert lake_snapshot(aws, pipeline) == before
