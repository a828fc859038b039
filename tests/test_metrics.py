"""EMF output: exactly the metric contract of metric_names.py, stamped per minute."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from alb502 import metric_names as names
from alb502.measure import MinuteCounts
from alb502.metrics import MetricsEmitter, parse_emf, summarize
from alb502.pipeline import ObjectReport

NOW = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)
LB = "app/shop-prod/50dc6c495c0c9188"


def object_report(
    minutes: list[MinuteCounts],
    interval_end: datetime | None = datetime(2026, 11, 21, 11, 55, tzinfo=UTC),
) -> ObjectReport:
    return ObjectReport(
        source="s3://logs/AWSLogs/x.log.gz",
        rows=990,
        rejects=10,
        interval_end=interval_end,
        minutes=minutes,
    )


def blobs(out: str) -> list[dict[str, object]]:
    found = []
    for line in out.splitlines():
        if line.startswith("{"):
            blob = json.loads(line)
            if "_aws" in blob:
                found.append(blob)
    return found


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("POWERTOOLS_DEV", "POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_METRICS_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)
    # Powertools would turn this into a `service` dimension; we must not.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "alb502")


def two_minutes(base: datetime = datetime(2026, 11, 21, 11, 51, tzinfo=UTC)) -> list[MinuteCounts]:
    return [
        MinuteCounts(LB, base, 500, 3, 1, Counter(target_unreachable=2, target_app_error=1)),
        MinuteCounts(LB, base + timedelta(minutes=1), 480, 0, 0),
    ]


def test_blobs_have_the_contracted_names_dimensions_and_minutes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    MetricsEmitter(clock=lambda: NOW).object_processed(object_report(minutes=two_minutes()))
    found = blobs(capsys.readouterr().out)
    shapes = [
        (
            b["_aws"]["CloudWatchMetrics"][0]["Namespace"],  # type: ignore[index]
            b["_aws"]["CloudWatchMetrics"][0]["Dimensions"],  # type: ignore[index]
            [m["Name"] for m in b["_aws"]["CloudWatchMetrics"][0]["Metrics"]],  # type: ignore[index]
            b["_aws"]["Timestamp"],  # type: ignore[index]
        )
        for b in found
    ]
    t0 = int(datetime(2026, 11, 21, 11, 51, tzinfo=UTC).timestamp() * 1000)
    assert shapes == [
        ("ALB502", [["LoadBalancer"]], ["Requests", "ELB502", "Target502"], t0),
        ("ALB502", [["LoadBalancer", "Cause"]], ["Errors502"], t0),
        ("ALB502", [["LoadBalancer", "Cause"]], ["Errors502"], t0),
        ("ALB502", [["LoadBalancer"]], ["Requests", "ELB502", "Target502"], t0 + 60_000),
        (
            "ALB502",
            [[]],
            ["LinesParsed", "LinesRejected", "ObjectsProcessed", "ProcessingLag"],
            int(NOW.timestamp() * 1000),
        ),
    ]
    assert all("service" not in b for b in found)
    assert found[0]["LoadBalancer"] == LB
    # Powertools writes each value as a one-element list, which EMF allows.
    assert (found[0]["Requests"], found[0]["ELB502"], found[0]["Target502"]) == ([500], [3], [1])
    assert {(b["Cause"], *b["Errors502"]) for b in found[1:3]} == {  # type: ignore[misc]
        ("target_app_error", 1),
        ("target_unreachable", 2),
    }
    assert found[-1]["ProcessingLag"] == [330.0]  # 12:00:30 - 11:55:00
    assert (found[-1]["LinesParsed"], found[-1]["LinesRejected"]) == ([990], [10])


def test_namespace_comes_from_the_powertools_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Shop/ALB")
    MetricsEmitter(clock=lambda: NOW).object_skipped()
    (point,) = parse_emf(capsys.readouterr().out.splitlines())
    assert (point.namespace, point.metric, point.dimensions, point.value) == (
        "Shop/ALB",
        names.OBJECTS_SKIPPED,
        (),
        1.0,
    )


def test_minutes_outside_the_emf_window_are_not_emitted(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    old = two_minutes(NOW - timedelta(days=15))
    recent = two_minutes(NOW - timedelta(minutes=10))
    report = object_report(minutes=old + recent, interval_end=NOW - timedelta(days=15))
    MetricsEmitter(clock=lambda: NOW).object_processed(report)
    out = capsys.readouterr().out
    points = parse_emf(out.splitlines())
    traffic = [p for p in points if p.dimensions]
    assert traffic and all(p.timestamp > NOW - timedelta(days=14) for p in traffic)
    assert sum(p.value for p in points if p.metric == "Requests") == 980
    assert "outside CloudWatch's EMF window" in caplog.text
    assert any(p.metric == names.LINES_PARSED for p in points)


def test_dev_mode_disables_metrics_and_says_so(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    MetricsEmitter(clock=lambda: NOW).object_processed(object_report(minutes=two_minutes()))
    out = capsys.readouterr().out
    assert parse_emf(out.splitlines()) == []
    assert "metrics are disabled" in caplog.text


def test_parse_emf_rejects_a_declared_metric_without_value() -> None:
    blob = {
        "_aws": {
            "Timestamp": 0,
            "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [[]], "Metrics": [{"Name": "M", "Unit": "Count"}]}
            ],
        }
    }
    with pytest.raises(ValueError, match="M declared"):
        parse_emf([json.dumps(blob)])


def test_summary_lists_every_metric(capsys: pytest.CaptureFixture[str]) -> None:
    MetricsEmitter(clock=lambda: NOW).object_processed(object_report(minutes=two_minutes()))
    text = summarize(parse_emf(capsys.readouterr().out.splitlines()))
    for metric in ("Requests", "ELB502", "Target502", "Errors502", "LinesParsed", "ProcessingLag"):
        assert f"    {metric}" in text
    assert f"ALB502  LoadBalancer={LB}" in text
    assert "ALB502  (no dimensions)" in text
    assert "Errors502 Cause=target_unreachable" in text
