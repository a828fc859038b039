"""The Athena saved queries, run on DuckDB over a lake the pipeline wrote.

Each ``infra/queries/*.sql`` file is Trino SQL as Athena runs it, with ``?``
execution parameters for its time window; ``alb502.query`` binds them and
sqlglot transpiles the text to DuckDB. The lake is written by
``alb502.pipeline`` from hand-made ALB log objects whose every 502 has a
known cause, so each query's answer is known exactly. The recent objects are
stamped two hours before the real "now" and an old one four days before, so
the window's day-partition and time filters are both exercised.
"""

from __future__ import annotations

import gzip
import os
import shutil
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import sqlglot

from alb502 import query
from alb502.cli import main
from alb502.dev.traffic import generate_lines, object_key
from alb502.dev.traffic import write_object as write_traffic
from alb502.fields import ALB_ERRORS_TABLE, ALB_LOGS_SCHEMA, REJECTS_SCHEMA
from alb502.pipeline import process_object
from alb502.writer import ObjectOutput
from infra.glue_schema import ALB_LOGS_COLUMNS, REJECTS_COLUMNS
from infra.saved_queries import SavedQuery, load_saved_queries

ROOT = Path(__file__).resolve().parents[1]

ACCOUNT = "123456789012"
REGION = "eu-west-1"
WEB = "app/web/0123456789abcdef"
API = "app/api/fedcba9876543210"
LAMBDA_TG = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/web-fn/1111111111111111"
WEB_TG = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/web/2222222222222222"
API_TG = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/api/3333333333333333"


@dataclass(frozen=True)
class Entry:
    """The fields of one ALB entry the queries care about; the rest are fixed."""

    time: datetime
    elb: str
    target: str  # "ip:port" or "-"
    timings: str  # request, target and response processing time
    elb_status: int
    target_status: str
    target_group: str
    actions: str = "forward"
    error_reason: str = "-"

    def line(self) -> str:
        stamp = self.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        created = (self.time - timedelta(milliseconds=50)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return (
            f"http {stamp} {self.elb} 198.51.100.7:40123 {self.target} {self.timings} "
            f"{self.elb_status} {self.target_status} 120 340 "
            f'"GET http://shop.example.com:80/cart HTTP/1.1" "Mozilla/5.0 (X11; Linux)" '
            f'- - {self.target_group} "Root=1-6543abcd-0123456789abcdef01234567" "-" "-" 0 '
            f'{created} "{self.actions}" "-" "{self.error_reason}" '
            f'"{self.target}" "{self.target_status}" "-" "-" TID_0123456789abcdef'
        )


def ok(at: datetime, elb: str, target: str, tpt: float, group: str = WEB_TG) -> Entry:
    return Entry(at, elb, target, f"0.001 {tpt:.3f} 0.000", 200, "200", group)


def object_name(elb: str, end: datetime) -> str:
    """ALB's object name: the output stem, and the interval end rejects are filed under."""
    name, lb_id = elb.split("/")[1:]
    random_part = zlib.crc32(f"{elb} {end}".encode())
    return (
        f"{ACCOUNT}_elasticloadbalancing_{REGION}_app.{name}.{lb_id}_"
        f"{end:%Y%m%dT%H%MZ}_10.0.0.9_{random_part:08x}.log.gz"
    )


def write_object(directory: Path, elb: str, end: datetime, lines: list[str]) -> Path:
    path = directory / object_name(elb, end)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def web_entries(base: datetime) -> list[Entry]:
    """app/web: one 502 of most causes, plus targets with known latencies."""
    at = [base + timedelta(seconds=s) for s in range(40)]
    failed = "-1 -1 -1"
    entries = [
        ok(at[0], WEB, "10.0.1.1:80", 0.010),
        # Never handed over, though 10.0.1.1 answered before and after: keep-alive.
        Entry(at[1], WEB, "10.0.1.1:80", failed, 502, "-", WEB_TG),
        ok(at[2], WEB, "10.0.1.1:80", 0.010),
        # 10.0.1.2 never answers in this object: unreachable (twice).
        Entry(at[3], WEB, "10.0.1.2:80", failed, 502, "-", WEB_TG),
        Entry(at[4], WEB, "10.0.1.2:80", failed, 502, "-", WEB_TG),
        # The target itself answered 502.
        Entry(at[5], WEB, "10.0.1.3:80", "0.001 0.050 0.000", 502, "502", WEB_TG),
        # Handed over, then no response: the target closed the connection.
        Entry(at[6], WEB, "10.0.1.3:80", "0.001 -1 -1", 502, "-", WEB_TG),
        # A listener rule answering 502.
        Entry(at[7], WEB, "-", "0.000 0.000 0.000", 502, "-", "-", actions="fixed-response"),
        # Lambda targets: two unhandled errors, one throttle.
        Entry(
            at[8],
            WEB,
            "-",
            "0.000 0.001 0.000",
            502,
            "-",
            LAMBDA_TG,
            error_reason="LambdaUnhandled",
        ),
        Entry(
            at[9],
            WEB,
            "-",
            "0.000 0.001 0.000",
            502,
            "-",
            LAMBDA_TG,
            error_reason="LambdaUnhandled",
        ),
        Entry(
            at[10],
            WEB,
            "-",
            "0.000 0.001 0.000",
            502,
            "-",
            LAMBDA_TG,
            error_reason="LambdaThrottling",
        ),
    ]
    # 10.0.1.4 answers in 0.1 .. 1.0 s; 10.0.1.5 always in 0.2 s.
    entries += [ok(at[11 + i], WEB, "10.0.1.4:80", 0.1 * (i + 1)) for i in range(10)]
    entries += [ok(at[21 + i], WEB, "10.0.1.5:80", 0.2) for i in range(3)]
    return entries


def api_entries(base: datetime) -> list[Entry]:
    at = [base + timedelta(seconds=30 + s) for s in range(5)]
    entries = [ok(at[i], API, "10.0.2.1:8080", 0.005, API_TG) for i in range(4)]
    entries.append(Entry(at[4], API, "10.0.2.9:8080", "-1 -1 -1", 502, "-", API_TG))
    return entries


TRUNCATED = "http 2020-01-01T00:00:00.000000Z app/api/fedcba9876543210 198.51.100.7:1"
UNBALANCED = 'http 2020-01-01T00:00:00.000000Z app/api/fedcba9876543210 1.2.3.4:5 - "GET /'


@dataclass(frozen=True)
class Lake:
    path: Path
    recent_day: str
    period_start: datetime
    old_start: datetime
    #: The last 24 hours: what every answer below is about unless it says otherwise.
    window: query.Window


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """A lake with two recent objects (two load balancers) and one 4 days old."""
    now = datetime.now(UTC)
    # A 5-minute boundary two hours ago: every recent entry is in one period.
    recent = (now - timedelta(hours=2)).replace(second=0, microsecond=0)
    recent -= timedelta(minutes=recent.minute % 5)
    old = recent - timedelta(days=4)
    end = timedelta(minutes=5)
    logs = tmp_path_factory.mktemp("logs")
    objects = [
        write_object(logs, WEB, recent + end, [e.line() for e in web_entries(recent)]),
        write_object(
            logs,
            API,
            recent + end,
            [e.line() for e in api_entries(recent)] + [TRUNCATED, UNBALANCED],
        ),
        # Old: must be outside every "last 24 hours" answer.
        write_object(
            logs,
            WEB,
            old + end,
            [
                Entry(
                    old + timedelta(seconds=s), WEB, "10.0.1.2:80", "-1 -1 -1", 502, "-", WEB_TG
                ).line()
                for s in range(3)
            ]
            + [TRUNCATED],
        ),
    ]
    path = tmp_path_factory.mktemp("lake")
    for source in objects:
        process_object(str(source), str(path))
    window = query.window(None, None, now=now)
    return Lake(path, f"{recent:%Y-%m-%d}", recent, old, window)


@pytest.fixture(scope="module")
def db(lake: Lake) -> Iterator[duckdb.DuckDBPyConnection]:
    con = query.connect(lake.path)
    yield con
    con.close()


QUERIES = {q.name: q for q in load_saved_queries()}
#: The queries about tagged rows: they read alb_errors, never all traffic.
ERROR_QUERIES = (
    "errors_502_by_cause",
    "elb_5xx_other_by_cause",
    "worst_targets_by_cause",
    "keepalive_suspects",
    "target_outages",
    "longest_failure_runs",
    "lambda_target_failures",
)


def run(
    db: duckdb.DuckDBPyConnection, name: str, window: query.Window, lake: Path | None = None
) -> list[dict[str, Any]]:
    saved: SavedQuery = QUERIES[name]
    if lake is not None:
        table = query.run(saved, lake, window)
    else:
        table = db.sql(query.to_duckdb(saved, window)).to_arrow_table()
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def test_every_query_file_is_tested() -> None:
    tested = {
        *ERROR_QUERIES,
        "error_rate_5min",
        "slowest_targets",
        "rejects_by_reason",
    }
    assert set(QUERIES) == tested


def test_every_query_filters_on_the_window() -> None:
    # Without a predicate on `day`, Athena reads every partition ever written;
    # the window's days and instants are execution parameters (? in order).
    for saved in QUERIES.values():
        assert "WHERE day BETWEEN ? AND ?" in saved.sql, saved.name
        assert "current_date" not in saved.sql and "current_timestamp" not in saved.sql
        if saved.name == "rejects_by_reason":  # rejected lines have no time
            assert saved.parameters == ("since_day", "until_day")
            continue
        assert saved.parameters == ("since_day", "until_day", "since", "until"), saved.name
        assert "request_ts >= from_iso8601_timestamp(?)" in saved.sql, saved.name
        assert "request_ts < from_iso8601_timestamp(?)" in saved.sql, saved.name
        # The console shows the description: it must say what to enter.
        assert "parameters: since_day, until_day" in saved.description


def test_error_queries_read_only_the_tagged_rows() -> None:
    for name in ERROR_QUERIES:
        assert query.tables_read(QUERIES[name]) == {ALB_ERRORS_TABLE}, name
    assert query.tables_read(QUERIES["error_rate_5min"]) == {"alb_logs"}


def test_bind_fills_each_placeholder_in_order_as_athena_would() -> None:
    window = query.Window(
        datetime(2026, 12, 1, 4, 0, tzinfo=UTC), datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
    )
    saved = QUERIES["errors_502_by_cause"]
    assert window.values(saved) == [
        "'2026-12-01'",
        "'2026-12-01'",
        "'2026-12-01T04:00:00Z'",
        "'2026-12-01T06:30:00Z'",
    ]
    bound = query.bind(saved, window)
    assert "?" not in bound
    assert (
        "WHERE day BETWEEN '2026-12-01' AND '2026-12-01'\n"
        "  AND request_ts >= from_iso8601_timestamp('2026-12-01T04:00:00Z')\n"
        "  AND request_ts < from_iso8601_timestamp('2026-12-01T06:30:00Z')"
    ) in bound


def test_a_question_mark_in_a_string_or_comment_is_not_a_parameter(tmp_path: Path) -> None:
    path = tmp_path / "q.sql"
    path.write_text(
        "-- Why? A test.\n-- parameters: since_day, until\n"
        "SELECT '?' AS mark FROM alb_logs WHERE day >= ? AND request_ts < ?\n"
    )
    saved = query.parse_query(path)
    window = query.Window(datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC))
    bound = query.bind(saved, window)
    assert bound.endswith("WHERE day >= '2026-01-02' AND request_ts < '2026-01-03T00:00:00Z'\n")
    assert "SELECT '?' AS mark" in bound


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", datetime(2026, 12, 1, 3, 0, tzinfo=UTC)),
        ("30m", datetime(2026, 12, 1, 4, 30, tzinfo=UTC)),
        ("7d", datetime(2026, 11, 24, 5, 0, tzinfo=UTC)),
        # The forms `alb502 report` took before it shared this parser.
        ("1.5h", datetime(2026, 12, 1, 3, 30, tzinfo=UTC)),
        ("now", datetime(2026, 12, 1, 5, 0, tzinfo=UTC)),
        ("2026-11-30T22:15:00Z", datetime(2026, 11, 30, 22, 15, tzinfo=UTC)),
        ("2026-11-30T23:15:00+01:00", datetime(2026, 11, 30, 22, 15, tzinfo=UTC)),
        ("2026-11-30 22:15", datetime(2026, 11, 30, 22, 15, tzinfo=UTC)),
        ("2026-11-30", datetime(2026, 11, 30, tzinfo=UTC)),
    ],
)
def test_window_times(text: str, expected: datetime) -> None:
    now = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert query.parse_time(text, now=now) == expected


def test_window_defaults_and_errors() -> None:
    now = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert query.window(None, None, now=now) == query.Window(now - timedelta(hours=24), now)
    assert query.window("1h", "30m", now=now) == query.Window(
        now - timedelta(hours=1), now - timedelta(minutes=30)
    )
    with pytest.raises(query.InputError, match="empty window"):
        query.window("1h", "2h", now=now)
    with pytest.raises(query.InputError, match="'yesterday' is not a time"):
        query.window("yesterday", None, now=now)


def _is_trino_double(node: sqlglot.exp.Expression) -> bool:
    """Whether Trino types ``node`` as DOUBLE, for the forms the queries use."""
    if isinstance(node, sqlglot.exp.Literal):
        # 100e0 is DOUBLE; 100.0 is DECIMAL(4,1) and 100 is INTEGER.
        return not node.is_string and "e" in node.this.lower()
    if isinstance(node, sqlglot.exp.Cast):
        return node.to.this == sqlglot.exp.DataType.Type.DOUBLE
    # to_unixtime returns DOUBLE.
    return isinstance(node, sqlglot.exp.TimeToUnix)


def test_divisions_are_double_arithmetic() -> None:
    # Trino types 100.0 as DECIMAL: 100.0 * 1 / 3 is 33.3 in Athena, while
    # DuckDB answers 33.33, so the answer tests below would pass on a query
    # Athena rounds differently (and 100 * 1 / 3 is integer division, 33).
    # Every division's numerator must hold a DOUBLE operand.
    for saved in QUERIES.values():
        for division in sqlglot.parse_one(saved.sql, read="trino").find_all(sqlglot.exp.Div):
            numerator = division.this
            operands = (
                [numerator.this, numerator.expression]
                if isinstance(numerator, sqlglot.exp.Mul)
                else [numerator]
            )
            assert any(_is_trino_double(o) for o in operands), (
                saved.name,
                division.sql("trino"),
            )


def test_lake_matches_the_glue_tables(lake: Lake) -> None:
    """Column names and order of the Glue tables are what the writer wrote."""
    for table, columns, schema in (
        ("alb_logs", ALB_LOGS_COLUMNS, ALB_LOGS_SCHEMA),
        ("alb_log_rejects", REJECTS_COLUMNS, REJECTS_SCHEMA),
    ):
        files = sorted((lake.path / table).glob(f"day={lake.recent_day}/*.parquet"))
        assert files, table
        written = pq.read_schema(files[0])
        assert written.names == [c["name"] for c in columns] == schema.names


def test_502s_by_cause(db: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    rows = run(db, "errors_502_by_cause", lake.window)
    got = [
        (r["error_source"], r["cause"], r["error_reason"], r["errors"], r["load_balancers"])
        for r in rows
    ]
    assert got == [
        ("elb", "target_unreachable", "TargetConnectionFailed", 3, 2),
        ("elb", "lambda_function_error", "LambdaUnhandled", 2, 1),
        ("elb", "fixed_response", "FixedResponse", 1, 1),
        ("elb", "lambda_throttled", "LambdaThrottling", 1, 1),
        ("target", "target_app_error", "TargetResponse502", 1, 1),
        ("elb", "target_closed_keepalive", "TargetConnectionFailed", 1, 1),
        ("elb", "target_connection_closed", "TargetResponseMissing", 1, 1),
    ]


def test_502_rate_per_load_balancer(db: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    rows = run(db, "error_rate_5min", lake.window)
    got = [
        (r["elb"], r["requests"], r["errors_502"], r["elb_502"], r["target_502"], r["rate_percent"])
        for r in rows
    ]
    # 24 web entries with 9 502s (one sent by a target), 5 api entries with one.
    assert got == [(API, 5, 1, 1, 0, 20.0), (WEB, 24, 9, 8, 1, 37.5)]
    assert [r["elb_5xx_other"] for r in rows] == [0, 0]
    assert {r["period_start"] for r in rows} == {lake.period_start}


def test_worst_targets_for_a_cause(db: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    rows = run(db, "worst_targets_by_cause", lake.window)
    got = [
        (r["cause"], r["target_rank"], r["elb"], r["target_ip"], r["target_port"], r["errors"])
        for r in rows
    ]
    # Lambda and fixed-response 502s have no target ip and are not listed.
    assert got == [
        ("target_app_error", 1, WEB, "10.0.1.3", 80, 1),
        ("target_closed_keepalive", 1, WEB, "10.0.1.1", 80, 1),
        ("target_connection_closed", 1, WEB, "10.0.1.3", 80, 1),
        ("target_unreachable", 1, WEB, "10.0.1.2", 80, 2),
        ("target_unreachable", 2, API, "10.0.2.9", 8080, 1),
    ]


def test_keepalive_suspects(db: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    rows = run(db, "keepalive_suspects", lake.window)
    assert [(r["elb"], r["target_ip"], r["target_port"], r["keepalive_errors"]) for r in rows] == [
        (WEB, "10.0.1.1", 80, 1)
    ]
    # Rounded to the second, in UTC: the entry is at period_start + 1.000 s.
    assert rows[0]["first_seen"] == rows[0]["last_seen"] == lake.period_start + timedelta(seconds=1)


def test_lambda_target_failures(db: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    rows = run(db, "lambda_target_failures", lake.window)
    got = [
        (r["elb"], r["target_group_arn"], r["cause"], r["error_reason"], r["errors"]) for r in rows
    ]
    assert got == [
        (WEB, LAMBDA_TG, "lambda_function_error", "LambdaUnhandled", 2),
        (WEB, LAMBDA_TG, "lambda_throttled", "LambdaThrottling", 1),
    ]


def test_slowest_targets(db: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    rows = run(db, "slowest_targets", lake.window)
    # -1 timings (10.0.1.2, 10.0.2.9, the failed 10.0.1.1/10.0.1.3 entries)
    # are not latencies; Lambda entries have no target ip.
    order = [(r["target_ip"], r["responses"]) for r in rows]
    assert order == [
        ("10.0.1.4", 10),
        ("10.0.1.5", 3),
        ("10.0.1.3", 1),
        ("10.0.1.1", 2),
        ("10.0.2.1", 4),
    ]
    by_ip = {r["target_ip"]: r for r in rows}
    # Constant latencies make every percentile exact, approximate or not.
    assert by_ip["10.0.1.5"]["p50_seconds"] == by_ip["10.0.1.5"]["p99_seconds"] == 0.2
    assert by_ip["10.0.2.1"]["p95_seconds"] == 0.005
    spread = by_ip["10.0.1.4"]
    assert spread["max_seconds"] == pytest.approx(1.0)
    assert 0.4 <= spread["p50_seconds"] <= 0.6
    assert 0.9 <= spread["p95_seconds"] <= spread["p99_seconds"] <= 1.0


def test_rejects_by_reason(db: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    rows = run(db, "rejects_by_reason", lake.window)
    # The old object's rejected line is filed under its own (old) day.
    assert [(r["reason"], r["lines"], r["objects"], r["example"]) for r in rows] == [
        ("too_few_fields", 1, 1, TRUNCATED),
        ("unbalanced_quotes", 1, 1, UNBALANCED),
    ]


def test_old_entries_are_in_the_lake_but_not_in_the_answers(
    db: duckdb.DuckDBPyConnection,
) -> None:
    # Guards the tests above: the old 502s exist and the window drops them.
    rows = db.sql("SELECT count(*) AS n FROM alb_logs WHERE elb_status_code = 502").fetchall()
    assert rows == [(10 + 3,)]


def test_the_window_picks_the_old_incident(db: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    # The 4-day-old object alone: its three unreachable 502s and its reject.
    window = query.Window(lake.old_start, lake.old_start + timedelta(minutes=5))
    rows = run(db, "errors_502_by_cause", window)
    assert [(r["cause"], r["errors"]) for r in rows] == [("target_unreachable", 3)]
    assert rows[0]["first_seen"] == lake.old_start
    assert rows[0]["last_seen"] == lake.old_start + timedelta(seconds=2)
    assert [(r["reason"], r["lines"]) for r in run(db, "rejects_by_reason", window)] == [
        ("too_few_fields", 1)
    ]
    # The window's end is exclusive, to the second.
    narrow = query.Window(lake.old_start, lake.old_start + timedelta(seconds=2))
    assert [r["errors"] for r in run(db, "errors_502_by_cause", narrow)] == [2]


# -- alb_errors ---------------------------------------------------------------


def test_alb_errors_holds_exactly_the_tagged_rows(lake: Lake) -> None:
    logs = pq.read_table(lake.path / "alb_logs")
    errors = pq.read_table(lake.path / ALB_ERRORS_TABLE)
    tagged = logs.filter(pc.is_valid(logs.column("cause")))
    assert tagged.num_rows == 10 + 3  # every 502 of the lake, recent and old
    key = ["source_key", "source_line"]
    assert errors.sort_by([(k, "ascending") for k in key]).equals(
        tagged.sort_by([(k, "ascending") for k in key])
    )
    # Same layout and file names: one file per object and day, named after it.
    names = {
        p.relative_to(lake.path / "alb_logs") for p in (lake.path / "alb_logs").rglob("*.parquet")
    }
    error_files = {
        p.relative_to(lake.path / ALB_ERRORS_TABLE)
        for p in (lake.path / ALB_ERRORS_TABLE).rglob("*.parquet")
    }
    # The api object has a 502 too, so every object of this lake has error rows.
    assert error_files == names
    for path in (lake.path / ALB_ERRORS_TABLE).rglob("*.parquet"):
        assert pq.read_schema(path).names == ALB_LOGS_SCHEMA.names


def test_an_object_without_errors_writes_no_alb_errors_file(tmp_path: Path) -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    source = write_object(tmp_path, API, now, [ok(now, API, "10.0.2.1:8080", 0.005, API_TG).line()])
    report = process_object(str(source), str(tmp_path / "lake"))
    assert [Path(p).relative_to(tmp_path / "lake").parts[0] for p in report.outputs] == ["alb_logs"]


def test_a_failed_object_leaves_no_alb_errors_file(tmp_path: Path) -> None:
    # The alb_errors file is placed in the same commit as alb_logs: when it
    # cannot be (here: a file where its folder must go), nothing is left.
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    lines = [e.line() for e in web_entries(now)]
    source = write_object(tmp_path, WEB, now + timedelta(minutes=5), lines)
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / ALB_ERRORS_TABLE).write_text("in the way")
    with pytest.raises(OSError):
        process_object(str(source), str(lake))
    assert [p.name for p in lake.rglob("*") if p.is_file()] == [ALB_ERRORS_TABLE]


# -- what the error queries cost in Athena -------------------------------------

#: Lines of the generated object. CI uses 100k; the README's figures are for
#: ALB502_COST_LINES=1000000 (the ratio is computed the same way).
COST_LINES = int(os.environ.get("ALB502_COST_LINES", "100000"))


def test_error_queries_read_500x_fewer_bytes_than_the_raw_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    key = object_key(
        ACCOUNT,
        REGION,
        "app/shop-prod/50dc6c495c0c9188",
        start + timedelta(minutes=5),
        "10.0.0.1",
        "cost0001",
    )
    source = tmp_path / key.rsplit("/", 1)[1]
    # The realistic mix: ~1 % 502s, rare causes rare.
    write_traffic(
        source,
        generate_lines(start=start, lines=COST_LINES, seed=7, cover_all_causes=False),
    )
    raw = source.stat().st_size
    lake = tmp_path / "lake"
    process_object(str(source), str(lake))
    window = query.Window(start, start + timedelta(minutes=5))
    ratios = {}
    for name in (*ERROR_QUERIES, "error_rate_5min", "slowest_targets"):
        scanned = query.scanned_bytes(QUERIES[name], lake, window)
        assert scanned > 0, name
        ratios[name] = raw / scanned
    # The same error queries over all traffic (alb_logs), as before alb_errors.
    over_logs = {}
    for name in ERROR_QUERIES:
        saved = QUERIES[name]
        before = replace(saved, sql=saved.sql.replace("FROM alb_errors", "FROM alb_logs"))
        over_logs[name] = raw / query.scanned_bytes(before, lake, window)
    with capsys.disabled():
        print(f"\n{COST_LINES:,} lines, {raw:,} bytes gzip; raw / scanned (over alb_logs):")
        for name, ratio in sorted(ratios.items(), key=lambda item: item[1]):
            before_text = f"  ({over_logs[name]:,.0f}x)" if name in over_logs else ""
            print(f"  {ratio:8,.0f}x  {name}{before_text}")
    for name in ERROR_QUERIES:
        assert ratios[name] >= 500, (name, ratios[name])
        # Guard: the measure can fail; over all traffic the same query is far from it.
        assert over_logs[name] < 200, name


def test_scanned_bytes_counts_only_the_touched_columns_of_the_window(lake: Lake) -> None:
    saved = QUERIES["lambda_target_failures"]
    files = list((lake.path / ALB_ERRORS_TABLE / f"day={lake.recent_day}").glob("*.parquet"))
    touched = {"elb", "target_group_arn", "cause", "error_reason", "request_ts"}
    expected = 0
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for i in range(row_group.num_columns):
                if row_group.column(i).path_in_schema in touched:
                    expected += row_group.column(i).total_compressed_size
    assert query.scanned_bytes(saved, lake.path, lake.window) == expected > 0
    # A window of other days reads nothing.
    empty = query.Window(datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC))
    assert query.scanned_bytes(saved, lake.path, empty) == 0


# -- the evidence queries, over hand-tagged rows -------------------------------

#: source_line of web_entries -> cause, target_failure_run, gap before, gap after.
EVIDENCE: dict[int, tuple[str, int, float | None, float | None]] = {
    2: ("target_closed_keepalive", 1, 1.0, 1.0),
    4: ("target_restarting", 1, 2.0, 21.04),
    5: ("target_restarting", 2, 3.0, 19.96),
    7: ("target_deregistered", 1, 1.0, None),
    # An answered request of 10.0.1.4, made a connect timeout (a 504).
    12: ("target_connect_timeout", 1, 0.5, None),
}
#: source_line -> elb_status_code, error_reason, for rows that become errors.
NOW_AN_ERROR = {12: (504, "TargetConnectTimeout")}


@pytest.fixture(scope="module")
def evidence_lake(lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The web object's rows, re-tagged with v2 causes and evidence, written
    by the writer: the answers do not depend on the classifier."""
    (source,) = (lake.path / "alb_logs" / f"day={lake.recent_day}").glob("*app.web.*.parquet")
    rows = pq.read_table(source).sort_by("source_line")
    tags: dict[str, list[Any]] = {
        "cause": [],
        "target_failure_run": [],
        "target_gap_before_s": [],
        "target_gap_after_s": [],
    }
    for line, cause in zip(rows["source_line"].to_pylist(), rows["cause"].to_pylist(), strict=True):
        tagged = EVIDENCE.get(line)
        values = tagged if tagged else (cause, None, None, None)
        for column, value in zip(tags, values, strict=True):
            tags[column].append(value)
    lines = rows["source_line"].to_pylist()
    tags["elb_status_code"] = [
        NOW_AN_ERROR.get(line, (status, None))[0]
        for line, status in zip(lines, rows["elb_status_code"].to_pylist(), strict=True)
    ]
    tags["error_reason"] = [
        NOW_AN_ERROR.get(line, (None, reason))[1]
        for line, reason in zip(lines, rows["error_reason"].to_pylist(), strict=True)
    ]
    for column, values in tags.items():
        index = rows.schema.get_field_index(column)
        rows = rows.set_column(index, column, pa.array(values, rows.schema.field(column).type))
    path = tmp_path_factory.mktemp("evidence-lake")
    output = ObjectOutput(str(path), source.stem, rows["source_key"][0].as_py())
    output.add_rows(rows)
    output.commit()
    return path


def test_longest_failure_runs(evidence_lake: Path, lake: Lake) -> None:
    rows = run(None, "longest_failure_runs", lake.window, evidence_lake)  # type: ignore[arg-type]
    got = [
        (
            r["target_ip"],
            r["cause"],
            r["longest_run"],
            r["gap_before_s"],
            r["gap_after_s"],
            r["errors"],
        )
        for r in rows
    ]
    # The gaps are those of the longest run's entry, rounded to 0.1 s.
    assert got == [
        ("10.0.1.2", "target_restarting", 2, 3.0, 20.0, 2),
        ("10.0.1.1", "target_closed_keepalive", 1, 1.0, 1.0, 1),
        ("10.0.1.3", "target_deregistered", 1, 1.0, None, 1),
        ("10.0.1.4", "target_connect_timeout", 1, 0.5, None, 1),
    ]
    assert rows[0]["first_failure"] == lake.period_start + timedelta(seconds=3)
    assert rows[0]["last_failure"] == lake.period_start + timedelta(seconds=4)


def test_target_outages_put_restarts_next_to_unreachable(evidence_lake: Path, lake: Lake) -> None:
    rows = run(None, "target_outages", lake.window, evidence_lake)  # type: ignore[arg-type]
    got = [
        (
            r["target_ip"],
            r["restarting"],
            r["deregistered"],
            r["unreachable"],
            r["connect_timeout"],
            r["longest_run"],
        )
        for r in rows
    ]
    # The keep-alive entry is no outage; the api object is not in this lake.
    assert got == [
        ("10.0.1.2", 2, 0, 0, 0, 2),
        ("10.0.1.3", 0, 1, 0, 0, 1),
        ("10.0.1.4", 0, 0, 0, 1, 1),
    ]


def test_elb_5xx_other_than_502(evidence_lake: Path, lake: Lake) -> None:
    rows = run(None, "elb_5xx_other_by_cause", lake.window, evidence_lake)  # type: ignore[arg-type]
    got = [(r["elb_status_code"], r["cause"], r["error_reason"], r["errors"]) for r in rows]
    assert got == [(504, "target_connect_timeout", "TargetConnectTimeout", 1)]
    assert rows[0]["first_seen"] == lake.period_start + timedelta(seconds=11)
    # ... and the 502 query leaves it out.
    causes = {r["cause"] for r in run(None, "errors_502_by_cause", lake.window, evidence_lake)}  # type: ignore[arg-type]
    assert "target_connect_timeout" not in causes and "target_restarting" in causes


def test_keepalive_evidence(evidence_lake: Path, lake: Lake) -> None:
    (row,) = run(None, "keepalive_suspects", lake.window, evidence_lake)  # type: ignore[arg-type]
    assert (row["target_ip"], row["keepalive_errors"], row["longest_run"]) == ("10.0.1.1", 1, 1)
    assert (row["median_gap_before_s"], row["median_gap_after_s"]) == (1.0, 1.0)


# -- the alb502 query command ----------------------------------------------------


def test_query_command_prints_every_column_with_rounded_times(
    evidence_lake: Path, lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    since = f"{lake.period_start - timedelta(minutes=1):%Y-%m-%dT%H:%M:%SZ}"
    until = f"{lake.period_start + timedelta(minutes=10):%Y-%m-%dT%H:%M:%SZ}"
    code = main(
        ["query", "longest_failure_runs", "--since", since, str(evidence_lake), "--until", until]
    )
    out, err = capsys.readouterr()
    assert code == 0
    header, rule, first, *_ = out.splitlines()
    assert header.split() == [
        "elb", "target_ip", "target_port", "cause", "longest_run", "gap_before_s",
        "gap_after_s", "errors", "first_failure", "last_failure",
    ]  # fmt: skip
    assert set(rule) <= {"-", " "}
    stamp = f"{lake.period_start + timedelta(seconds=3):%Y-%m-%d %H:%M:%S}"
    assert first.split()[:8] == [WEB, "10.0.1.2", "80", "target_restarting", "2", "3", "20", "2"]
    assert stamp in first
    assert "+00" not in out and ".000" not in out
    assert "longest_failure_runs: 4 rows" in err and "bytes of Parquet column chunks" in err
    # What to paste into Athena's "Enter parameters" for the same window.
    assert err.splitlines()[-1].endswith(
        f"parameters for this window: '{since[:10]}' '{until[:10]}' '{since}' '{until}'"
    )


def test_query_command_errors_are_one_line(
    tmp_path: Path, lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["query", "no_such_query", str(lake.path)]) == 1
    assert capsys.readouterr().err.startswith("alb502: error: no saved query 'no_such_query'")
    assert main(["query", "errors_502_by_cause", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"alb502: error: {tmp_path}: not an alb502 lake (no alb_logs/ folder)\n"
    assert main(["query", "errors_502_by_cause", "--since", "soon", str(lake.path)]) == 1
    assert "'soon' is not a time" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["query", "--list"])
    assert exited.value.code == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == sorted(QUERIES)


def test_query_command_on_a_lake_older_than_alb_errors(
    tmp_path: Path, lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old-lake"
    shutil.copytree(lake.path / "alb_logs", old / "alb_logs")
    assert main(["query", "errors_502_by_cause", str(old)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no alb_errors files" in err and "'alb502 process' again" in err
    # Queries over all traffic still run there.
    assert main(["query", "error_rate_5min", str(old)]) == 0
