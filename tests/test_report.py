"""The on-call report as a library: reading, filters, breakdowns, comparison."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from report_lake import (
    API,
    API_TG,
    HOUR,
    T0,
    WEB,
    WEB_TG,
    entry,
    incident_rows,
    minutes,
    write_object,
    write_table,
)

from alb502.errors import InputError
from alb502.query import parse_time
from alb502.report import Filters, Report, Window, baseline_of, build, window_of


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    write_object(root, "obj-2026-11-20", incident_rows())
    # the day before: traffic and 502s a one-hour report must not read
    day_before = T0 - timedelta(days=1)
    write_object(
        root,
        "obj-2026-11-19",
        [
            entry(day_before),
            entry(day_before, status=502, cause="target_unreachable", target="10.9.9.9:80"),
        ],
    )
    write_table(
        root,
        "alb_log_rejects",
        "2026-11-20",
        "obj-2026-11-20",
        [
            {"source_key": "k", "source_line": n, "raw_line": "x", "reason": "too_few_fields"}
            for n in (1, 2)
        ],
    )
    return root


def section(report: Report, name: str) -> list[dict[str, Any]]:
    return report.sections[name]


def by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in rows}


# -- reading ------------------------------------------------------------------------


def test_missing_folder_file_and_non_lake_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such directory"):
        build(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        build(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not an alb502 lake"):
        build(tmp_path / "empty")


def test_a_one_hour_report_reads_only_that_days_files(lake: Path) -> None:
    # A file no reader can open: reading it would fail the report.
    broken = lake / "alb_logs" / "day=2026-11-18" / "garbage.parquet"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not parquet")
    report = build(lake, window=HOUR)
    assert report.files_read == 1
    assert report.totals["errors"] == 15
    with pytest.raises(InputError, match="cannot read"):
        build(lake)


def test_the_whole_lake_without_a_window(lake: Path) -> None:
    report = build(lake)
    assert report.totals["errors"] == 19  # 15 in the hour, 3 before, 1 the day before
    assert report.baseline is None
    assert report.window.since == T0 - timedelta(days=1)
    assert section(report, "changes") == []


def test_tagged_rows_come_from_alb_errors_when_the_object_has_one(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    rows = [entry(T0), entry(T0, status=502, cause="target_unreachable")]
    write_object(root, "with-errors-table", rows, errors_table=True)
    # alb_errors holds exactly the tagged rows; mark its copy to tell them apart.
    errors_file = root / "alb_errors" / "day=2026-11-20" / "with-errors-table.parquet"
    write_table(
        root,
        "alb_errors",
        "2026-11-20",
        "with-errors-table",
        [entry(T0, status=502, cause="target_restarting")],
    )
    assert errors_file.exists()
    write_object(
        root, "older-object", [entry(T0), entry(T0, status=502, cause="no_targets", target="")]
    )
    report = build(root)
    assert report.source_table == "alb_errors+alb_logs"
    assert {r["cause"]: r["errors"] for r in section(report, "causes")} == {
        "target_restarting": 1,  # from alb_errors, not alb_logs's target_unreachable
        "no_targets": 1,  # an object written before alb_errors existed
    }
    assert report.totals["entries"] == 4


def test_a_lake_of_old_files_without_the_evidence_columns(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "lake" / "alb_logs" / "day=2026-11-20" / "v1.parquet"
    path.parent.mkdir(parents=True)
    table = pa.Table.from_pylist([entry(T0, status=502, cause="target_unreachable")])
    keep = [c for c in table.column_names if c not in ("target_failure_run", "tagger_version")]
    from alb502.fields import ALB_LOGS_SCHEMA

    pq.write_table(
        table.select(keep).cast(pa.schema([ALB_LOGS_SCHEMA.field(c) for c in keep])), path
    )
    target = section(build(tmp_path / "lake"), "targets")[0]
    assert target["longest_failure_run"] is None
    assert target["cause"] == "target_unreachable"


# -- times ----------------------------------------------------------------------------


def test_times_iso_and_relative() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert parse_time("2h", now) == now - timedelta(hours=2)
    assert parse_time("30m", now) == now - timedelta(minutes=30)
    assert parse_time("1d", now) == now - timedelta(days=1)
    assert parse_time("90s", now) == now - timedelta(seconds=90)
    assert parse_time("now", now) == now
    assert parse_time("2026-11-20T10:00Z", now) == T0
    assert parse_time("2026-11-20T11:00+01:00", now) == T0
    assert parse_time("2026-11-20T10:00", now) == T0  # no offset: UTC
    assert parse_time("2026-11-20", now) == T0 - timedelta(hours=10)
    with pytest.raises(InputError, match="not a time"):
        parse_time("yesterday", now)


def test_window_and_baseline() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    window = window_of("2h", None, now)
    assert window == Window(now - timedelta(hours=2), now)
    assert baseline_of(window) == Window(now - timedelta(hours=4), now - timedelta(hours=2))
    assert baseline_of(window, "1d") == Window(
        now - timedelta(days=1, hours=2), now - timedelta(days=1)
    )
    assert baseline_of(window, "2026-11-19T00:00Z", now).since == datetime(2026, 11, 19, tzinfo=UTC)
    assert baseline_of(window, "none") is None
    assert baseline_of(Window()) is None
    with pytest.raises(InputError, match="needs a window"):
        baseline_of(Window(), "1d")
    with pytest.raises(InputError, match="not before"):
        window_of("2026-11-20T11:00Z", "2026-11-20T10:00Z", now)


# -- filters ----------------------------------------------------------------------------


def causes_of(report: Report) -> dict[str, int]:
    return {r["cause"]: r["errors"] for r in section(report, "causes")}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(load_balancers=("api",)), {"no_targets": 4, "waf_error": 1}),
        (Filters(load_balancers=(API,)), {"no_targets": 4, "waf_error": 1}),
        (
            Filters(target_groups=("web-tg",)),
            {"target_restarting": 5, "target_app_error": 3, "target_closed_keepalive": 2},
        ),
        (Filters(target_groups=(API_TG,)), {"waf_error": 1}),
        (Filters(targets=("10.0.0.2",)), {"target_closed_keepalive": 2}),
        (
            Filters(targets=("10.0.0.1:80", "10.0.0.3:80")),
            {"target_restarting": 5, "target_app_error": 3},
        ),
        (Filters(targets=("10.0.0.1:81",)), {}),
        (Filters(causes=("target_app_error",)), {"target_app_error": 3}),
        (Filters(statuses=(503, 500)), {"no_targets": 4, "waf_error": 1}),
    ],
)
def test_filters(lake: Path, filters: Filters, expected: dict[str, int]) -> None:
    assert causes_of(build(lake, window=HOUR, filters=filters)) == expected


def test_filters_on_load_balancer_scope_the_entries_too(lake: Path) -> None:
    report = build(lake, window=HOUR, filters=Filters(load_balancers=("api",)))
    assert report.totals["entries"] == 25
    assert [r["elb"] for r in section(report, "load_balancers")] == [API]


def test_since_and_until_cut_the_rows(lake: Path) -> None:
    report = build(lake, window=Window(T0 + minutes(20), T0 + minutes(31)))
    assert causes_of(report) == {"target_restarting": 5, "target_app_error": 3}


def test_unknown_cause_and_non_5xx_status_are_refused() -> None:
    with pytest.raises(InputError, match="unknown cause 'keepalive'"):
        Filters(causes=("keepalive",))
    with pytest.raises(InputError, match="not a 5xx"):
        Filters(statuses=(404,))


# -- breakdowns -----------------------------------------------------------------------


def test_totals_keep_the_load_balancers_other_5xx_beside_the_502s(lake: Path) -> None:
    totals = build(lake, window=HOUR).totals
    assert totals["errors"] == 15
    assert totals["errors_502"] == 10
    assert totals["elb_502"] == 7
    assert totals["target_502"] == 3
    assert totals["elb_5xx_other"] == 5
    assert totals["entries"] == 185
    assert totals["rejects"] == 2
    codes = [
        (r["elb_status_code"], r["errors"])
        for r in section(build(lake, window=HOUR), "status_codes")
    ]
    assert codes[0][0] == 502
    assert sorted(codes) == [(500, 1), (502, 3), (502, 7), (503, 4)]


def test_per_load_balancer_and_target_group(lake: Path) -> None:
    report = build(lake, window=HOUR)
    lbs = by(section(report, "load_balancers"), "elb")
    assert (lbs[WEB]["entries"], lbs[WEB]["errors_502"], lbs[WEB]["elb_5xx_other"]) == (160, 10, 0)
    assert (lbs[API]["entries"], lbs[API]["errors_502"], lbs[API]["elb_5xx_other"]) == (25, 0, 5)
    assert lbs[API]["error_share"] == pytest.approx(5 / 25, abs=1e-6)
    groups = {(r["target_group_arn"], r["elb"]): r for r in section(report, "target_groups")}
    assert groups[(WEB_TG, WEB)]["errors"] == 10
    assert groups[("", API)]["errors"] == 4
    assert groups[(API_TG, API)]["entries"] == 21


def test_per_target_evidence(lake: Path) -> None:
    targets = by(section(build(lake, window=HOUR), "targets"), "target")
    restarting = targets["10.0.0.1:80"]
    assert restarting["cause"] == "target_restarting"
    assert restarting["errors"] == 5
    assert restarting["first_failure"] == T0 + minutes(20)
    assert restarting["last_failure"] == T0 + minutes(20) + timedelta(seconds=20)
    assert restarting["longest_failure_run"] == 5
    assert restarting["failure_share"] == pytest.approx(5 / 105, abs=1e-6)
    assert restarting["target_group_arn"] == WEB_TG
    assert targets["10.0.0.2:80"]["causes"] == {"target_closed_keepalive": 2}
    assert next(iter(targets)) == "10.0.0.1:80"  # most errors first
    assert "" not in targets


def test_top_paths_drop_the_query(lake: Path) -> None:
    paths = by(section(build(lake, window=HOUR, baseline=baseline_of(HOUR)), "paths"), "path")
    assert paths["https://example.com:443/orders"]["errors"] == 5
    pay = paths["https://example.com:443/api/pay"]
    assert (pay["errors"], pay["targets"], pay["cause"], pay["baseline"]) == (
        3,
        1,
        "target_app_error",
        2,
    )


def test_timeline_by_cause_shows_empty_buckets(lake: Path) -> None:
    report = build(lake, window=HOUR)
    timeline = section(report, "timeline")
    assert report.bucket_minutes == 5
    assert len(timeline) == 12
    assert [r["start"] for r in timeline][:2] == [T0, T0 + minutes(5)]
    assert timeline[0]["errors"] == 0 and timeline[0]["causes"] == {}
    assert timeline[4]["causes"] == {"target_restarting": 5}
    assert timeline[9]["causes"] == {"no_targets": 4, "waf_error": 1}
    assert sum(r["errors"] for r in timeline) == 15


def test_the_timeline_widens_its_buckets_for_long_windows(lake: Path) -> None:
    report = build(lake, window=Window(T0 - timedelta(days=1), T0 + timedelta(hours=1)))
    assert report.bucket_minutes == 180
    assert len(section(report, "timeline")) == 9


# -- what changed -------------------------------------------------------------------------


def test_what_rose_against_the_hour_before(lake: Path) -> None:
    report = build(lake, window=HOUR, baseline=baseline_of(HOUR))
    assert report.totals["baseline_errors"] == 3
    causes = by(section(report, "causes"), "cause")
    assert causes["target_closed_keepalive"]["baseline"] == 1
    changes = {
        (r["kind"], r["key"]): (r["errors"], r["baseline"], r["change"])
        for r in section(report, "changes")
    }
    assert changes[("cause", "target_restarting")] == (5, 0, 5)
    assert changes[("cause", "target_app_error")] == (3, 2, 1)
    assert changes[("target", "10.0.0.1:80")] == (5, 0, 5)
    assert changes[("path", "https://example.com:443/orders")] == (5, 0, 5)
    # the hour before counts toward the baseline only
    assert report.totals["errors"] == 15


def test_a_baseline_a_day_before(lake: Path) -> None:
    report = build(lake, window=HOUR, baseline=baseline_of(HOUR, "1d"))
    assert report.totals["baseline_errors"] == 1
    assert report.files_read == 2


def test_render_is_the_whole_lake_text_report(lake: Path) -> None:
    from alb502.report import render

    text = render(lake, top=1)
    assert text.startswith(f"alb502 report: {lake}\n")
    assert "tagged 5xx: 19 " in text


def test_a_baseline_days_back_reads_only_its_own_days(lake: Path) -> None:
    broken = lake / "alb_logs" / "day=2026-11-18" / "garbage.parquet"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not parquet")
    report = build(lake, window=HOUR, baseline=baseline_of(HOUR, "3d"))
    assert report.files_read == 1  # 11-20 only: not 11-18 or 11-19 between the two
    assert report.totals["baseline_errors"] == 0
