"""``make bench-report``: ``alb502 report`` over a 10M-entry local lake.

Builds the lake once (cached in benchmarks/.data/report-lake): one realistic
200k-line object (``alb502.dev.traffic``) through ``alb502 process``, then its
Parquet file copied 50 times, each moved one hour later (request_ts, time),
over three UTC days; with ``--errors-table`` also each object's tagged rows
in ``alb_errors``, as the writer does when the lake has that table.

Then times, each in a fresh process so its peak RSS is its own (best of
--repeat): the whole-lake report, and a one-hour report with its baseline.
Target: under 5 s, memory bounded (peak RSS far below the lake's size in
memory).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alb502.dev import traffic
from alb502.pipeline import process_object

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
LINES = 200_000
OBJECTS = 50
START = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def build_lake(root: Path, *, errors_table: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        name = "123456789012_elasticloadbalancing_us-east-1_app.shop.1a2b_20261120T0005Z_10.0.0.1_x"
        log = Path(tmp, f"{name}.log.gz")
        traffic.write_object(log, traffic.generate_lines(start=START, lines=LINES, seed=2026))
        process_object(str(log), tmp + "/lake")
        one = pq.read_table(Path(tmp, "lake", "alb_logs", "day=2026-11-20", f"{name}.parquet"))
    for i in range(OBJECTS):
        shift = timedelta(hours=i)
        moved = one.set_column(
            one.schema.get_field_index("request_ts"),
            "request_ts",
            pc.add(one.column("request_ts"), pa.scalar(shift, pa.duration("ms"))),
        )
        day = (START + shift).strftime("%Y-%m-%d")
        stem = f"object-{i:03d}"
        for table, rows in (("alb_logs", moved), ("alb_errors", None)):
            if table == "alb_errors":
                if not errors_table:
                    continue
                rows = moved.filter(pc.is_valid(moved.column("cause")))
            path = root / table / f"day={day}" / f"{stem}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(rows, path)


def timed(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of ``alb502 report ARGS``
    in a fresh process. CPU time says what a quiet machine's wall time would
    be when the build machine is shared."""
    code = "import sys; from alb502.cli import main; sys.exit(main(sys.argv[1:]))"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code, "report", *args], capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - started
    # This process's only child: the report.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def measure(args: list[str], repeat: int) -> tuple[float, float, int]:
    """Best wall time with its CPU time and peak RSS, each run in a process of its own."""
    results = []
    for _ in range(repeat):
        runner = [sys.executable, __file__, "--child", *args]
        out = subprocess.run(runner, capture_output=True, text=True, check=True).stdout
        seconds, cpu, rss = out.split()
        results.append((float(seconds), float(cpu), int(rss)))
    return min(results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--errors-table", action="store_true", help="lake with alb_errors")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        seconds, cpu, rss = timed(args.child)
        print(f"{seconds:.3f} {cpu:.3f} {rss}")
        return 0
    lake = DATA / ("report-lake-errors" if args.errors_table else "report-lake")
    if args.rebuild and lake.exists():
        shutil.rmtree(lake)
    if not lake.exists():
        print(f"building {OBJECTS * LINES:,}-entry lake in {lake} ...", flush=True)
        build_lake(lake, errors_table=args.errors_table)
    entries = sum(pq.ParquetFile(p).metadata.num_rows for p in lake.glob("alb_logs/*/*.parquet"))
    size = sum(p.stat().st_size for p in lake.rglob("*.parquet")) / 2**20
    print(f"lake: {lake} ({entries:,} entries, {size:,.0f} MiB of Parquet)")
    print(f"load average: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    hour = ["--since", "2026-11-21T10:00Z", "--until", "2026-11-21T11:00Z"]
    failed = False
    for label, report_args in (
        ("whole lake", [str(lake)]),
        ("one hour + baseline", [*hour, str(lake)]),
    ):
        seconds, cpu, rss = measure(report_args, args.repeat)
        ok = seconds < 5
        failed |= not ok
        print(
            f"  {label:<20} {seconds:5.2f} s wall  {cpu:5.2f} s CPU  peak RSS {rss:,} MiB  "
            f"{'ok' if ok else 'SLOW'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
