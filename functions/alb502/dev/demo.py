"""``make demo``: the whole pipeline on this machine, no AWS account needed.

1. starts moto's server (S3 + SQS on 127.0.0.1) with the deployed wiring:
   log bucket -> ObjectCreated notification -> SQS queue;
2. writes a day of realistic ALB traffic for two load balancers (every 502
   cause of causes.md, an incident on one of them) plus AWS's documented
   example entries, as gzip objects under real ``AWSLogs/...`` keys;
3. lets the event-source-mapping runner feed the queue to ``lambda_handler``,
   which writes the Parquet lake to S3 and EMF metrics to stdout;
4. downloads the lake to ``./demo-lake`` and answers from it: the Athena
   saved queries (via sqlglot + DuckDB), the CloudWatch metrics the EMF
   would have produced, and last the on-call report of the last 8 hours
   (text, and ``demo-lake/report.html``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alb502 import report
from alb502.dev.local import (
    ACCOUNT,
    REGION,
    QueueRunner,
    create_pipeline,
    download_prefix,
    local_aws,
)
from alb502.dev.traffic import generate_lines, object_key, object_suffix, write_object
from alb502.metrics import parse_emf, summarize
from alb502.report_render import render_html, render_text

LOAD_BALANCERS = ("app/shop-prod/50dc6c495c0c9188", "app/payments-api/7f3e2a91b0c4d5e6")
#: One object per load balancer per hour: a gap-free timeline, ~120k lines.
OBJECTS_PER_LB = 24
#: Relative load of each load balancer.
LOAD_SHARE = (1.0, 0.6)
#: Every sixth object carries every cause of causes.md at least once; the
#: others only the weighted random mix, where rare causes stay rare.
COVER_EVERY = 6
REPO = Path(__file__).resolve().parents[3]
AWS_EXAMPLES = REPO.parent / "shared" / "samples" / "aws-doc-examples.log"
#: What a truncated write or a stray tool leaves in a log object.
BROKEN_LINES = (
    "h2 2026-11-21T03:12:09.5",
    "GET /healthz HTTP/1.1 200",
    'https 2026-11-21T03:12:09.547190Z app/payments-api/7f3e2a91b0c4d5e6 "unterminated',
)
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


@dataclass(frozen=True)
class DemoObject:
    key: str
    path: Path
    lines: int


def _interval_ends(now: datetime) -> list[datetime]:
    """OBJECTS_PER_LB five-minute intervals spread over the last 24 hours."""
    last = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5 + 10)
    step = timedelta(hours=24) / OBJECTS_PER_LB
    return [_floor5(last - i * step) for i in reversed(range(OBJECTS_PER_LB))]


def _floor5(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


def traffic_objects(workdir: Path, now: datetime) -> Iterator[DemoObject]:
    """A day of traffic: a diurnal load curve, two nodes per load balancer,
    an incident (a burst of 502s and a target restarting) on the first load
    balancer 6 hours ago, and a deploy without draining on the second.
    """
    incident = now - timedelta(hours=6)
    for lb_index, lb in enumerate(LOAD_BALANCERS):
        for i, end in enumerate(_interval_ends(now)):
            # Busiest around 15:00 UTC, quietest around 03:00.
            load = 0.55 + 0.45 * math.sin((end.hour - 9) / 24 * 2 * math.pi)
            lines = int((1500 + 3500 * load) * LOAD_SHARE[lb_index])
            in_incident = lb_index == 0 and abs(end - incident) < timedelta(hours=1)
            seed = 1000 * (lb_index + 1) + i
            node = f"10.0.{10 + lb_index}.{20 + i % 2}"
            key = object_key(ACCOUNT, REGION, lb, end, node, object_suffix(seed))
            path = workdir / f"{seed}.log.gz"
            text = list(
                generate_lines(
                    load_balancer=lb,
                    start=end - timedelta(minutes=5),
                    minutes=5,
                    lines=lines,
                    seed=seed,
                    rate_502=0.06 if in_incident else 0.008,
                    cover_all_causes=i % COVER_EVERY == 0,
                )
            )
            if lb_index == 1 and i == OBJECTS_PER_LB // 2:
                # A damaged object: these lines go to alb_log_rejects.
                text[len(text) // 2 : len(text) // 2] = BROKEN_LINES
            if in_incident and end > incident:
                # During the incident one target restarts for 20 s (causes.md 4a).
                text = restart_a_target(text, seconds=20.0)
            if lb_index == 1 and i == OBJECTS_PER_LB - 3:
                # A deploy stops a target before it is drained (causes.md 4b).
                text = stop_a_target(text, refused_seconds=20.0)
            write_object(path, text)
            yield DemoObject(key, path, len(text))


def _fields(line: str) -> list[str] | None:
    """The first 12 fields of an entry (all before the first quoted one) and the rest."""
    parts = line.split(" ", 12)
    return parts if len(parts) == 13 and parts[4] != "-" else None


def _busiest_target(lines: list[str]) -> str:
    counts: dict[str, int] = {}
    for line in lines:
        parts = _fields(line)
        if parts is not None:
            counts[parts[4]] = counts.get(parts[4], 0) + 1
    return max(counts, key=lambda target: counts[target])


def _refused(parts: list[str]) -> str:
    """The entry as ALB logs a refused connection: never sent, no response, 502."""
    parts = [*parts[:5], "-1", "-1", "-1", "502", "-", parts[10], "0", parts[12]]
    return " ".join(parts)


def _middle(lines: list[str]) -> datetime:
    times = sorted(_parse_iso(parts[1]) for line in lines if (parts := _fields(line)))
    return times[len(times) // 2]


def restart_a_target(lines: list[str], seconds: float) -> list[str]:
    """The busiest target refuses every connection for ``seconds`` mid-object,
    serving before and after: a process restart while still registered."""
    target, start = _busiest_target(lines), _middle(lines)
    end = start + timedelta(seconds=seconds)
    out = []
    for line in lines:
        parts = _fields(line)
        hit = parts is not None and parts[4] == target and start <= _parse_iso(parts[1]) < end
        out.append(_refused(parts) if hit and parts is not None else line)
    return out


def stop_a_target(lines: list[str], refused_seconds: float) -> list[str]:
    """The busiest target refuses connections for ``refused_seconds`` mid-object,
    then is gone from the rest of it: stopped before it was drained."""
    target, start = _busiest_target(lines), _middle(lines)
    gone = start + timedelta(seconds=refused_seconds)
    out = []
    for line in lines:
        parts = _fields(line)
        if parts is None or parts[4] != target or _parse_iso(parts[1]) < start:
            out.append(line)
        elif _parse_iso(parts[1]) < gone:
            out.append(_refused(parts))
    return out


def aws_examples_object(workdir: Path, now: datetime) -> DemoObject | None:
    """AWS's documented example entries, moved into the demo day (each line
    keeps its own content; its timestamps shift so it lands in today's
    timeline and inside CloudWatch's 14-day metric window)."""
    if not AWS_EXAMPLES.is_file():
        return None
    lines = [line for line in AWS_EXAMPLES.read_text().splitlines() if line.strip()]
    end = _floor5(now - timedelta(hours=3))
    moved = []
    for n, line in enumerate(lines):
        match = _ISO.search(line)
        if match is None:
            moved.append(line)
            continue
        # The first timestamp is the entry's time: place entry n at n seconds
        # into the interval; every timestamp of the line moves by as much.
        shift = end - timedelta(minutes=4, seconds=-n) - _parse_iso(match.group())
        moved.append(_shift_times(line, shift))
    lb = "app/my-loadbalancer/50dc6c495c0c9188"
    path = workdir / "aws-doc-examples.log.gz"
    write_object(path, moved)
    return DemoObject(
        object_key(ACCOUNT, "us-east-2", lb, end, "10.0.0.1", "awsdocs1"), path, len(moved)
    )


def _parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _format_iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _shift_times(line: str, shift: timedelta) -> str:
    def moved(match: re.Match[str]) -> str:
        return _format_iso(_parse_iso(match.group()) + shift)

    return _ISO.sub(moved, line)


def run_saved_queries(lake: Path) -> str:
    """Each infra/queries/*.sql over the last 24 hours, Trino -> DuckDB by sqlglot."""
    from alb502 import query

    queries = query.load_saved_queries()
    if not queries:
        return "  (no saved queries in infra/queries yet)"
    window = query.window(None, None)
    con = query.connect(lake)
    out = []
    for saved in queries:
        out.append(f"-- {saved.name}")
        try:
            table = query.run(saved, lake, window, con=con)
            out.append(query.render(table.slice(0, 10)))
        except Exception as error:  # one broken query must not hide the others
            out.append(f"  could not run: {type(error).__name__}: {str(error).splitlines()[0]}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alb502.dev.demo", description=__doc__)
    parser.add_argument("--lake", type=Path, default=Path("demo-lake"), help="where to put it")
    args = parser.parse_args(argv)
    lake: Path = args.lake
    started = time.perf_counter()
    now = datetime.now(UTC)

    print("alb502 demo: S3 -> SQS -> Lambda handler -> Parquet lake + CloudWatch EMF, all local\n")
    with tempfile.TemporaryDirectory(prefix="alb502-demo-") as tmp, local_aws() as aws:
        workdir = Path(tmp)
        pipeline = create_pipeline(aws)
        print(f"moto server (S3 + SQS): {aws.endpoint}")
        print(f"log bucket s3://{pipeline.log_bucket} -> queue {pipeline.queue_arn}")
        print(f"lake: {pipeline.lake}\n")

        objects = list(traffic_objects(workdir, now))
        examples = aws_examples_object(workdir, now)
        if examples is not None:
            objects.append(examples)
        s3 = aws.client("s3")
        for obj in objects:
            s3.upload_file(str(obj.path), pipeline.log_bucket, obj.key)
        lines = sum(o.lines for o in objects)
        print(
            f"uploaded {len(objects)} ALB log objects ({lines:,} lines) for "
            f"{len(LOAD_BALANCERS)} load balancers over the last 24 h"
            + (" + AWS's documented examples" if examples else "")
        )

        # The handler's JSON logs and EMF go to stdout, as in Lambda; keep
        # them in a file rather than on the screen.
        captured = io.StringIO()
        os.environ["ALB502_LAKE"] = pipeline.lake
        # Either would silently switch metrics off, and the demo shows them.
        os.environ.pop("POWERTOOLS_DEV", None)
        os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
        with contextlib.redirect_stdout(captured):
            runner = QueueRunner(aws, pipeline)  # imports the handler: its logger binds here
            outcome = runner.drain()
        print(
            f"lambda_handler: {len(outcome.received)} SQS messages "
            f"(incl. the s3:TestEvent), {len(outcome.failed)} failed, "
            f"{outcome.seconds:.1f} s in the handler\n"
        )
        if lake.exists():
            shutil.rmtree(lake)
        download_prefix(aws, pipeline.lake_bucket, "", lake)

    stdout_file = lake / "_lambda_stdout.jsonl"
    stdout_file.write_text(captured.getvalue())

    rule = "=" * 100
    print(rule)
    print("Athena saved queries (infra/queries, Trino SQL run on DuckDB via sqlglot):\n")
    print(run_saved_queries(lake))
    print(rule)
    points = parse_emf(captured.getvalue().splitlines())
    print(f"CloudWatch metrics the EMF output would create ({len(points):,} data points):\n")
    print(summarize(points))
    print(rule)
    # The on-call view last: the 8 hours around the incident against the 8 before.
    window = report.window_of("8h", None, now)
    result = report.build(lake, window=window, baseline=report.baseline_of(window))
    print(render_text(result))
    html_report = lake / "report.html"
    html_report.write_text(render_html(result), encoding="utf-8")
    print(rule)
    print(f"HTML report (open it in a browser): ./{html_report}")
    print(f"Done in {time.perf_counter() - started:.0f} s. The lake is in ./{lake}")
    print(f"  (the handler's logs and EMF lines: ./{stdout_file})")
    print("Try next:")
    print(f"  .venv/bin/alb502 report --since 2h --compare-to 1d {lake}")
    query = (
        f"SELECT cause, count(*) AS n FROM '{lake}/alb_logs/*/*.parquet' "
        "WHERE cause IS NOT NULL GROUP BY 1 ORDER BY n DESC"
    )
    print(f"""  .venv/bin/python -c "import duckdb; duckdb.sql(\\"{query}\\").show()\"""")
    print("  .venv/bin/alb502 process --out my-lake path/to/your/alb-logs/   (your own logs)")
    print("  make synth    (the CloudFormation template that deploys this in your account)")
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
