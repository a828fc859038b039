"""process_object: the lake layout, atomic and idempotent output, nothing lost."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from alb502.classifier import is_502
from alb502.dev import traffic
from alb502.errors import Deadline, InputError
from alb502.fields import ALB_LOGS_SCHEMA, REJECTS_SCHEMA
from alb502.pipeline import process_object

from logtext import entry

KEY = (
    "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2026/11/21/"
    "123456789012_elasticloadbalancing_us-east-1_app.shop.50dc6c495c0c9188_"
    "20261121T0005Z_10.0.1.5_abc123.log.gz"
)
STEM = KEY.rsplit("/", 1)[1].removesuffix(".log.gz")


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as out:
        out.write("\n".join(lines) + "\n")
    return path


def files(lake: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(lake)): p.read_bytes() for p in sorted(lake.rglob("*")) if p.is_file()
    }


def test_object_spanning_midnight_writes_one_file_per_day(tmp_path: Path) -> None:
    lines = [
        entry(time="2026-11-20T23:59:59.900000Z", elb_status="200", target_status="200"),
        entry(time="2026-11-21T00:00:00.100000Z", timings="-1 -1 -1"),
        "not an entry",
    ]
    source = write(tmp_path / KEY, lines)
    report = process_object(str(source), str(tmp_path / "lake"))
    assert (report.lines, report.rows, report.rejects) == (3, 2, 1)
    assert sorted(files(tmp_path / "lake")) == [
        # The 502 of the second day, in the table of tagged rows.
        f"alb_errors/day=2026-11-21/{STEM}.parquet",
        f"alb_log_rejects/day=2026-11-20/{STEM}.parquet",
        f"alb_logs/day=2026-11-20/{STEM}.parquet",
        f"alb_logs/day=2026-11-21/{STEM}.parquet",
    ]
    day2 = pq.read_table(tmp_path / f"lake/alb_logs/day=2026-11-21/{STEM}.parquet")
    assert day2.schema.equals(ALB_LOGS_SCHEMA)
    assert day2.column("cause").to_pylist() == ["target_unreachable"]
    assert day2.column("source_key").to_pylist() == [str(source)]
    assert day2.column("source_line").to_pylist() == [2]
    # Rejects have no trusted time: they go under the object's first entry's day.
    rejects = pq.read_table(tmp_path / f"lake/alb_log_rejects/day=2026-11-20/{STEM}.parquet")
    assert rejects.schema.equals(REJECTS_SCHEMA)
    assert rejects.to_pylist() == [
        {
            "source_key": str(source),
            "source_line": 3,
            "raw_line": "not an entry",
            "reason": "too_few_fields",
        }
    ]


def test_rejects_day_without_entries_comes_from_the_interval(tmp_path: Path) -> None:
    source = write(tmp_path / KEY.replace("T0005Z", "T0000Z"), ["junk", ""])
    process_object(str(source), str(tmp_path / "lake"))
    stem = STEM.replace("T0005Z", "T0000Z")
    # The interval ending at 00:00 holds the previous day's last 5 minutes.
    assert list(files(tmp_path / "lake")) == [f"alb_log_rejects/day=2026-11-20/{stem}.parquet"]


def test_reprocessing_overwrites_instead_of_duplicating(tmp_path: Path) -> None:
    source = write(tmp_path / KEY, [entry(), entry(elb_status="200", target_status="200")])
    process_object(str(source), str(tmp_path / "lake"))
    first = files(tmp_path / "lake")
    process_object(str(source), str(tmp_path / "lake"))
    assert files(tmp_path / "lake").keys() == first.keys()
    table = pq.read_table(tmp_path / "lake/alb_logs")
    assert table.num_rows == 2


def test_failed_object_leaves_nothing(tmp_path: Path) -> None:
    good = "\n".join(entry() for _ in range(20_000)).encode() + b"\n"
    corrupt = gzip.compress(good)
    source = tmp_path / "broken.log.gz"
    source.write_bytes(corrupt[: len(corrupt) // 2])
    with pytest.raises(InputError, match="corrupt gzip"):
        process_object(str(source), str(tmp_path / "lake"))
    assert not (tmp_path / "lake").exists() or files(tmp_path / "lake") == {}


def test_deadline_stops_cleanly(tmp_path: Path) -> None:
    source = write(tmp_path / KEY, [entry()])
    with pytest.raises(Deadline):
        process_object(str(source), str(tmp_path / "lake"), should_stop=lambda: True)
    assert not (tmp_path / "lake").exists()


def test_rows_plus_rejects_equal_lines_on_realistic_traffic(tmp_path: Path) -> None:
    lines = list(
        traffic.generate_lines(start=datetime(2026, 11, 20, 12, tzinfo=UTC), lines=5_000, seed=7)
    )
    lines[10:10] = ["", "garbage", 'https "half']
    source = write(tmp_path / KEY, lines)
    report = process_object(str(source), str(tmp_path / "lake"))
    assert report.lines == len(lines)
    assert report.rows + report.rejects == report.lines
    assert report.rejects == 3
    table = pq.read_table(tmp_path / "lake/alb_logs")
    assert table.num_rows == report.rows
    assert sorted(table.column("source_line").to_pylist()) == [
        n for n in range(1, len(lines) + 1) if n not in (11, 12, 13)
    ]
    # Errors502's causes are the 502s'; the other tagged 5xx are counted apart.
    causes = table.filter(is_502(table)).column("cause").drop_null().to_pylist()
    assert len(causes) == sum(report.causes.values())
    others = table.filter(pc.invert(is_502(table))).column("cause").drop_null().to_pylist()
    assert len(others) == sum(report.other_5xx.values()) > 0
    assert sum(m.requests for m in report.minutes) == report.rows
    assert sum(sum(m.by_cause.values()) for m in report.minutes) == len(causes)


@pytest.fixture(params=[1, 2], ids=["one-core", "two-cores"])
def cores(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the test on one core (no threads, bigger chunks) and on two (threads)."""
    count: int = request.param
    monkeypatch.setattr("alb502.cpu.usable_cores", lambda: count)
    return count


def test_many_row_groups_keep_every_entry_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    """Small chunks and row groups: flushes mid-object and chunk by chunk at its end."""
    monkeypatch.setattr("alb502.reader.CHUNK_SIZE", 64 * 1024)
    monkeypatch.setattr("alb502.pipeline._ALONE_CHUNK_SIZE", 96 * 1024)
    monkeypatch.setattr("alb502.writer.ROW_GROUP_ROWS", 700)
    lines = list(
        traffic.generate_lines(start=datetime(2026, 11, 20, 12, tzinfo=UTC), lines=6_000, seed=11)
    )
    source = write(tmp_path / KEY, lines)
    report = process_object(str(source), str(tmp_path / "lake"))
    (written,) = (tmp_path / "lake/alb_logs").rglob("*.parquet")
    parquet = pq.ParquetFile(written)
    assert parquet.metadata.num_row_groups > 6
    numbers = parquet.read(columns=["source_line"]).column("source_line").to_pylist()
    assert sorted(numbers) == list(range(1, len(lines) + 1))
    assert report.rows == len(lines)


def test_one_core_and_two_write_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads or none, chunks of one size or another: the lake holds the same rows."""
    monkeypatch.setattr("alb502.reader.CHUNK_SIZE", 64 * 1024)
    monkeypatch.setattr("alb502.pipeline._ALONE_CHUNK_SIZE", 96 * 1024)
    lines = list(
        traffic.generate_lines(start=datetime(2026, 11, 20, 12, tzinfo=UTC), lines=4_000, seed=5)
    )
    source = write(tmp_path / KEY, [*lines, "not an entry"])
    tables = {}
    for count in (1, 2):
        monkeypatch.setattr("alb502.cpu.usable_cores", lambda count=count: count)
        lake = tmp_path / f"lake{count}"
        process_object(str(source), str(lake))
        tables[count] = {
            str(p.relative_to(lake)): pq.read_table(p).sort_by("source_line")
            for p in sorted(lake.rglob("*.parquet"))
        }
    assert tables[1].keys() == tables[2].keys()
    assert len(tables[1]) == 3  # alb_logs, alb_errors, alb_log_rejects
    for name, table in tables[1].items():
        assert table.equals(tables[2][name]), name


def test_an_encoding_failure_fails_the_object_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    """Encoded on a thread of its own (two cores) or not, a failed row group fails the object."""

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", disk_full)
    staging = tmp_path / "tmp"
    staging.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(staging))
    source = write(tmp_path / KEY, [entry() for _ in range(50)])
    with pytest.raises(OSError, match="No space left"):
        process_object(str(source), str(tmp_path / "lake"))
    assert not (tmp_path / "lake").exists() or files(tmp_path / "lake") == {}
    assert list(staging.iterdir()) == []
