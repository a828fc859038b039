"""Small lakes for the report tests, written row by row with the lake's schema."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from alb502.fields import ALB_LOGS_SCHEMA, REJECTS_SCHEMA
from alb502.report import Window

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
WEB = "app/web/50dc6c495c0c9188"
API = "app/api/0123456789abcdef"
WEB_TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/73e2d6bc24d8a067"
API_TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api-tg/0a1b2c3d4e5f6a7b"
#: The incident hour of :func:`incident_rows`.
HOUR = Window(T0, T0 + timedelta(hours=1))


def entry(
    ts: datetime,
    *,
    elb: str = WEB,
    tg: str = WEB_TG,
    target: str = "10.0.0.1:80",
    status: int = 200,
    target_status: str | None = None,
    cause: str | None = None,
    reason: str | None = None,
    url: str = "https://example.com:443/ok",
    run: int | None = None,
) -> dict[str, Any]:
    """One ``alb_logs`` row; a ``cause`` makes it a tagged row."""
    ip, _, port = target.rpartition(":") if target else ("", "", "")
    if target_status is None:
        target_status = "-" if cause else str(status)
    source = None
    if cause:
        source = "target" if target_status == "502" else "elb"
    return {
        "type": "https",
        "time": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "elb": elb,
        "target_ip": ip,
        "target_port": int(port) if port else None,
        "elb_status_code": status,
        "target_status_code": target_status,
        "request_verb": "GET",
        "request_url": url,
        "target_group_arn": tg,
        "request_ts": ts,
        "error_source": source,
        "error_reason": reason or ("TargetConnectionFailed" if cause else None),
        "cause": cause,
        "target_failure_run": run,
        "tagger_version": 2 if cause else None,
    }


def write_table(
    root: Path, table: str, day: str, stem: str, rows: Iterable[dict[str, Any]]
) -> Path:
    path = root / table / f"day={day}" / f"{stem}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = REJECTS_SCHEMA if table == "alb_log_rejects" else ALB_LOGS_SCHEMA
    pq.write_table(pa.Table.from_pylist(list(rows), schema=schema), path)
    return path


def write_object(
    root: Path, stem: str, rows: list[dict[str, Any]], *, errors_table: bool = False
) -> None:
    """What the writer does for one input object: one file per UTC day in
    ``alb_logs`` (and the tagged rows in ``alb_errors`` when asked)."""
    days: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        days.setdefault(row["request_ts"].strftime("%Y-%m-%d"), []).append(row)
    for day, day_rows in days.items():
        write_table(root, "alb_logs", day, stem, day_rows)
        if errors_table:
            write_table(root, "alb_errors", day, stem, [r for r in day_rows if r["cause"]])


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def incident_rows() -> list[dict[str, Any]]:
    """10:00-11:00 on 2026-11-20, the incident hour, and the quiet hour before."""
    rows = []
    for i in range(100):  # 10.0.0.1 serves all hour, restarts at 10:20
        rows.append(entry(T0 + timedelta(seconds=36 * i), target="10.0.0.1:80"))
    for i in range(5):
        rows.append(
            entry(
                T0 + minutes(20) + timedelta(seconds=5 * i),
                target="10.0.0.1:80",
                status=502,
                cause="target_restarting",
                run=i + 1,
                url="https://example.com:443/orders?id=7",
            )
        )
    for i in range(50):
        rows.append(entry(T0 + timedelta(seconds=72 * i), target="10.0.0.2:80"))
    for at in (5, 40):
        rows.append(
            entry(
                T0 + minutes(at),
                target="10.0.0.2:80",
                status=502,
                cause="target_closed_keepalive",
                run=1,
            )
        )
    for i in range(3):
        rows.append(
            entry(
                T0 + minutes(30) + timedelta(seconds=i),
                target="10.0.0.3:80",
                status=502,
                target_status="502",
                cause="target_app_error",
                reason="TargetResponse502",
                url="https://example.com:443/api/pay?x=1",
            )
        )
    for i in range(4):
        rows.append(
            entry(
                T0 + minutes(45) + timedelta(seconds=i),
                elb=API,
                tg="",
                target="",
                status=503,
                cause="no_targets",
                reason="NoTargets",
            )
        )
    rows.append(
        entry(
            T0 + minutes(46),
            elb=API,
            tg=API_TG,
            target="",
            status=500,
            cause="waf_error",
            reason="WAFConnectionError",
        )
    )
    for i in range(20):
        rows.append(
            entry(
                T0 + minutes(50) + timedelta(seconds=i), elb=API, tg=API_TG, target="10.1.0.1:8080"
            )
        )
    # the hour before: one keep-alive race and two target 502s
    before = T0 - timedelta(hours=1)
    rows.append(
        entry(
            before + minutes(10),
            target="10.0.0.2:80",
            status=502,
            cause="target_closed_keepalive",
            run=1,
        )
    )
    for i in range(2):
        rows.append(
            entry(
                before + minutes(15 + i),
                target="10.0.0.3:80",
                status=502,
                target_status="502",
                cause="target_app_error",
                reason="TargetResponse502",
                url="https://example.com:443/api/pay?x=2",
            )
        )
    for i in range(50):
        rows.append(entry(before + timedelta(seconds=60 * i), target="10.0.0.2:80"))
    return rows
