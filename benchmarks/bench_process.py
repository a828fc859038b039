"""``make bench``: alb502's throughput and memory, against AWS's regex per line.

Generates realistic objects (``alb502.dev.traffic``; cached in benchmarks/.data),
then, each in a fresh process so peak RSS is its own:

- ``alb502 process`` on a 200k-line and a 1M-line object;
- the straightforward implementation (``baseline.py``: AWS's Athena regex
  per line in Python, rows into pyarrow, Parquet out) on the 200k object;

each the best of --repeat runs. The package is byte-compiled first, as an
installed one is (an editable install under PYTHONDONTWRITEBYTECODE would
compile every module at each start).

Prints lines/s, MB/s of uncompressed log text, peak RSS and the speed ratio,
and checks the targets: >= 10x the baseline (team goal 20x), 1M-line peak
RSS under 400 MB and within 1.3x of the 200k one. Exit 1 if one is missed.
Run it on a quiet machine: it measures wall time.
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import alb502
from alb502.dev import traffic

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
SEED = 2026


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float


def object_for(lines: int) -> Path:
    """A cached generated object of ``lines`` lines."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"bench_{lines}_{SEED}.log.gz"
    if not path.exists():
        print(f"generating {lines:,} lines -> {path.name}", file=sys.stderr)
        staged = path.with_suffix(".tmp")
        traffic.write_object(
            staged,
            traffic.generate_lines(
                start=datetime(2026, 11, 20, 10, tzinfo=UTC), lines=lines, seed=SEED
            ),
        )
        staged.rename(path)
    return path


def uncompressed_bytes(path: Path) -> int:
    total = 0
    with gzip.open(path, "rb") as stream:
        while block := stream.read(1 << 24):
            total += len(block)
    return total


def measure(command: list[str]) -> Run:
    """Wall time and peak RSS of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(command)}")
    return Run(seconds, usage.ru_maxrss / 1024)


def best(command: list[str], repeat: int) -> Run:
    runs = [measure(command) for _ in range(repeat)]
    return Run(min(r.seconds for r in runs), max(r.peak_rss_mb for r in runs))


def alb502_process(source: Path, out: str) -> list[str]:
    return [sys.executable, "-m", "alb502.cli", "process", "-q", "--out", out, str(source)]


def baseline(source: Path, out: str) -> list[str]:
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[3]);"
        "from baseline import process_with_regex;"
        "process_with_regex(Path(sys.argv[1]), Path(sys.argv[2]))"
    )
    return [sys.executable, "-c", code, str(source), f"{out}/baseline.parquet", str(HERE)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--small", type=int, default=200_000, help="lines of the small object")
    parser.add_argument("--large", type=int, default=1_000_000, help="lines of the large object")
    args = parser.parse_args()

    small, large = object_for(args.small), object_for(args.large)
    for package in (Path(alb502.__file__).parent, HERE):
        compileall.compile_dir(package, quiet=1)
    lines_of = {small: args.small, large: args.large}
    size_of = {source: uncompressed_bytes(source) for source in lines_of}
    rows: list[tuple[str, int, int, Run]] = []
    with tempfile.TemporaryDirectory(prefix="alb502-bench-") as out:
        for label, source, command, repeat in (
            ("alb502 process", small, alb502_process(small, out), args.repeat),
            ("alb502 process", large, alb502_process(large, out), args.repeat),
            ("AWS regex per line", small, baseline(small, out), args.repeat),
        ):
            rows.append((label, lines_of[source], size_of[source], best(command, repeat)))

    print(
        f"{'implementation':<20} {'lines':>10} {'MB':>7} {'seconds':>8} "
        f"{'lines/s':>10} {'MB/s':>7} {'peak RSS MB':>12}"
    )
    for label, lines, size, run in rows:
        print(
            f"{label:<20} {lines:>10,} {size / 1e6:>7.0f} {run.seconds:>8.2f} "
            f"{lines / run.seconds:>10,.0f} {size / 1e6 / run.seconds:>7.0f} "
            f"{run.peak_rss_mb:>12.0f}"
        )
    ours_small, ours_large, regex = rows[0][3], rows[1][3], rows[2][3]
    ratio = regex.seconds / ours_small.seconds
    growth = ours_large.peak_rss_mb / ours_small.peak_rss_mb
    checks = [
        (f"speed vs AWS regex per line: {ratio:.1f}x (target >= 10x, goal 20x)", ratio >= 10),
        (
            f"peak RSS {args.large:,} lines: {ours_large.peak_rss_mb:.0f} MB (< 400 MB)",
            ours_large.peak_rss_mb < 400,
        ),
        (
            f"peak RSS growth {args.small:,} -> {args.large:,} lines: {growth:.2f}x (<= 1.3x)",
            growth <= 1.3,
        ),
    ]
    print()
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
