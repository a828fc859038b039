"""The Athena saved queries, run on DuckDB over a lake the pipeline wrote.

Each ``infra/queries/*.sql`` file is Trino SQL as Athena runs it; sqlglot
transpiles it to DuckDB. The lake is written by ``alb502.pipeline`` from
hand-made ALB log objects whose every 502 has a known cause, so each query's
answer is known exactly. The recent objects are stamped two hours before the
real "now" and an old one four days before, so the queries' own
``current_date``/``current_timestamp`` filters are exercised, not replaced.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
import sqlglot

from alb502.fields import ALB_LOGS_SCHEMA, REJECTS_SCHEMA
from alb502.pipeline import process_object
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
    return Lake(path, f"{recent:%Y-%m-%d}", recent)


@pytest.fixture(scope="module")
def db(lake: Lake) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    # Athena evaluates current_date and friends in UTC.
    con.execute("SET TimeZone = 'UTC'")
    for table in ("alb_logs", "alb_log_rejects"):
        # day stays a string, as in the Glue table (DuckDB would guess DATE).
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet("
            f"'{lake.path}/{table}/*/*.parquet', hive_partitioning = true, "
            "hive_types = {'day': 'VARCHAR'})"
        )
    yield con
    con.close()


QUERIES = {query.name: query for query in load_saved_queries()}


def run(db: duckdb.DuckDBPyConnection, name: str) -> list[dict[str, Any]]:
    query: SavedQuery = QUERIES[name]
    (duck_sql,) = sqlglot.transpile(query.sql, read="trino", write="duckdb")
    # Through Arrow: DuckDB's own conversion of timestamptz wants pytz.
    rows: list[dict[str, Any]] = db.sql(duck_sql).to_arrow_table().to_pylist()
    return rows


def test_every_query_file_is_tested() -> None:
    tested = {
        "errors_502_by_cause",
        "error_rate_5min",
        "worst_targets_by_cause",
        "keepalive_suspects",
        "lambda_target_failures",
        "slowest_targets",
        "rejects_by_reason",
    }
    assert set(QUERIES) == tested


def test_every_query_filters_on_the_day_partition() -> None:
    # Without a predicate on `day`, Athena reads every partition ever written.
    for query in QUERIES.values():
        assert "day >= date_format(current_date" in query.sql, query.name


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
    for query in QUERIES.values():
        for division in sqlglot.parse_one(query.sql, read="trino").find_all(sqlglot.exp.Div):
            numerator = division.this
            operands = (
                [numerator.this, numerator.expression]
                if isinstance(numerator, sqlglot.exp.Mul)
                else [numerator]
            )
            assert any(_is_trino_double(o) for o in operands), (
                query.name,
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


def test_502s_by_cause(db: duckdb.DuckDBPyConnection) -> None:
    rows = run(db, "errors_502_by_cause")
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
    rows = run(db, "error_rate_5min")
    got = [
        (r["elb"], r["requests"], r["errors_502"], r["elb_502"], r["target_502"], r["rate_percent"])
        for r in rows
    ]
    # 24 web entries with 9 502s (one sent by a target), 5 api entries with one.
    assert got == [(API, 5, 1, 1, 0, 20.0), (WEB, 24, 9, 8, 1, 37.5)]
    assert {r["period_start"] for r in rows} == {lake.period_start}


def test_worst_targets_for_a_cause(db: duckdb.DuckDBPyConnection) -> None:
    rows = run(db, "worst_targets_by_cause")
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
    rows = run(db, "keepalive_suspects")
    assert len(rows) == 1
    row = rows[0]
    assert (row["elb"], row["target_ip"], row["target_port"]) == (WEB, "10.0.1.1", 80)
    assert (row["keepalive_502s"], row["unreachable_502s"], row["requests"]) == (1, 0, 3)
    assert row["keepalive_percent"] == 33.33
    assert row["last_keepalive_502"] == lake.period_start + timedelta(seconds=1)


def test_lambda_target_failures(db: duckdb.DuckDBPyConnection) -> None:
    rows = run(db, "lambda_target_failures")
    got = [
        (r["elb"], r["target_group_arn"], r["cause"], r["error_reason"], r["errors"]) for r in rows
    ]
    assert got == [
        (WEB, LAMBDA_TG, "lambda_function_error", "LambdaUnhandled", 2),
        (WEB, LAMBDA_TG, "lambda_throttled", "LambdaThrottling", 1),
    ]


def test_slowest_targets(db: duckdb.DuckDBPyConnection) -> None:
    rows = run(db, "slowest_targets")
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


def test_rejects_by_reason(db: duckdb.DuckDBPyConnection) -> None:
    rows = run(db, "rejects_by_reason")
    # The old object's rejected line is filed under its own (old) day.
    assert [(r["reason"], r["lines"], r["objects"], r["example"]) for r in rows] == [
        ("too_few_fields", 1, 1, TRUNCATED),
        ("unbalanced_quotes", 1, 1, UNBALANCED),
    ]


def test_old_entries_are_in_the_lake_but_not_in_the_answers(
    db: duckdb.DuckDBPyConnection,
) -> None:
    # Guards the tests above: the old 502s exist and the filters drop them.
    (total,) = db.execute("SELECT count(*) FROM alb_logs WHERE elb_status_code = 502").fetchone()  # type: ignore[misc]
    assert total == 10 + 3
