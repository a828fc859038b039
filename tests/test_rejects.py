"""Rejects: the reason codes, and the day their file is under (issue 12)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alb502 import rejects
from alb502.pipeline import process_object

from logtext import entry

KEY = (
    "123456789012_elasticloadbalancing_us-east-1_app.shop.50dc6c495c0c9188_"
    "20261121T0005Z_10.0.1.5_abc123.log.gz"
)


def _process(tmp_path: Path, name: str, lines: list[str]) -> list[str]:
    """Process one object; the lake's files, relative to it."""
    source = tmp_path / "in" / name
    source.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(source, "wt") as out:
        out.write("".join(f"{line}\n" for line in lines))
    lake = tmp_path / "lake"
    process_object(str(source), str(lake))
    return sorted(str(p.relative_to(lake)) for p in lake.rglob("*.parquet"))


def test_every_reason_is_listed_once() -> None:
    assert len(set(rejects.REASONS)) == len(rejects.REASONS)
    assert rejects.TIME_OUT_OF_RANGE in rejects.REASONS
    assert rejects.STRAY_LINE_SEPARATOR in rejects.REASONS


@pytest.mark.parametrize("separator", ["\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029"])
def test_a_stray_separator_has_its_own_reason(separator: str) -> None:
    assert rejects.reason(entry() + separator + entry()) == rejects.STRAY_LINE_SEPARATOR


def test_year_zero_is_a_reject_and_the_object_is_written(tmp_path: Path) -> None:
    year_zero = entry(time="0000-11-21T00:01:00.000000Z")
    files = _process(tmp_path, KEY, [entry(time="2026-11-21T00:01:00.000000Z"), year_zero])
    # entry() is a 502, so alb_errors holds the good line too.
    assert files == [
        f"alb_errors/day=2026-11-21/{KEY.removesuffix('.log.gz')}.parquet",
        f"alb_log_rejects/day=2026-11-21/{KEY.removesuffix('.log.gz')}.parquet",
        f"alb_logs/day=2026-11-21/{KEY.removesuffix('.log.gz')}.parquet",
    ]


def test_rejects_of_an_undatable_object_go_under_the_processing_day(tmp_path: Path) -> None:
    files = _process(tmp_path, "no-interval-in-this-name.log.gz", ["junk", ""])
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert files == [f"alb_log_rejects/day={today}/no-interval-in-this-name.parquet"]


@pytest.mark.parametrize("stamp", ["19991231T2355Z", "20990101T0005Z"])
def test_an_interval_outside_the_projection_is_not_a_rejects_day(
    tmp_path: Path, stamp: str
) -> None:
    name = KEY.replace("20261121T0005Z", stamp)
    files = _process(tmp_path, name, ["junk"])
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert files == [f"alb_log_rejects/day={today}/{name.removesuffix('.log.gz')}.parquet"]


def test_every_day_written_is_inside_the_projection(tmp_path: Path) -> None:
    times = ["1970-01-01T00:00:00Z", "2014-06-01T00:00:00Z", "2999-01-01T00:00:00Z"]
    files = _process(
        tmp_path, KEY, [entry(time=t) for t in times] + [entry(time="2016-08-11T00:00:00Z")]
    )
    days = {f.split("/")[1].removeprefix("day=") for f in files}
    assert days == {"2016-08-11"}
    assert min(days) >= rejects.EARLIEST_DAY
