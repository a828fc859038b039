"""The ``alb502`` command line: a thin adapter over the library.

alb502 process [--out DIR] INPUT...   parse, tag and write the lake
alb502 report [options] LAKE          the incident report over a lake (local or s3://)
alb502 backfill s3://LOGS --queue URL  queue existing logs for the deployed function
alb502 query NAME [--since T] LAKE    one Athena saved query, run locally
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from alb502 import __version__
from alb502.errors import Alb502Error, InputError
from alb502.layout import LOG_SUFFIXES, ObjectKind, object_kind, stem
from alb502.pipeline import ObjectReport, process_object
from alb502.reader import aws_errors, parse_s3_uri, s3_client, s3_objects
from alb502.report import SECTIONS

PROCESS_EXAMPLES = """\
examples:
  alb502 process AWSLogs/123456789012/elasticloadbalancing/us-east-1/2026/11/20/
  alb502 process --out /tmp/lake one.log.gz other.log
  alb502 process --out s3://LAKE-BUCKET s3://my-alb-logs/AWSLogs/123456789012/

An s3:// --out is the lake's root: the deployed stack's Glue tables read
s3://LAKE-BUCKET/alb_logs/ and the like, so give the stack output
LakeBucketName with nothing after it. To back-fill a deployed stack from
existing logs, prefer `alb502 backfill` (the Lambda fleet does the work).

INPUT is a .log.gz or .log file, a directory (walked for .log.gz, .log and
.gz files), or an s3:// URI of an object or a prefix (the endpoint comes
from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL when set). Connection logs,
health check logs and ELBAccessLogTestFile are counted as skipped. Output
files are named after the input's file name, so each input's output
replaces what an earlier run wrote for it, and a second input with the
same name in one run is refused. Exit status: 0 when every input was
processed, 1 when some could not be (one line each on stderr), 2 on a
usage error.
"""

REPORT_EXAMPLES = """\
examples:
  alb502 report lake
  alb502 report --since 2h s3://LAKE-BUCKET/
  alb502 report --since 2026-11-20T10:00Z --until 2026-11-20T11:00Z --lb my-alb lake
  alb502 report --since 1h --compare-to 1d --cause target_restarting lake
  alb502 report --since 6h --format json lake > report.json
  alb502 report --since 6h --format csv --section targets lake > targets.csv
  alb502 report --since 6h --html report.html lake

LAKE is a lake directory or the s3:// URI of a deployed lake (credentials
from the usual AWS chain; the endpoint from AWS_ENDPOINT_URL_S3 or
AWS_ENDPOINT_URL when set). Only the day partitions the window touches are
read; tagged rows come from alb_errors when the lake has it. Times are ISO
8601 (UTC unless they carry an offset), now, or relative to now: 90s, 30m,
2h, 1d, 1w. Without --since the report covers the whole lake and compares nothing.
--compare-to: by default the same length just before the window; a
duration (1d) for the same window that long before; a time for a window of
the same length starting then; 'none' for no comparison. Filters take one
value each and may be repeated (values of one filter are ORed). Exit
status: 0 on success, 1 on an unusable lake or input, 2 on a usage error.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``alb502`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except Alb502Error as error:
        _error(str(error))
        return 1
    except KeyboardInterrupt:
        print("alb502: interrupted", file=sys.stderr)
        return 130
    return code


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    summary: str,
    description: str,
    examples: str,
) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` shows its description and examples as written."""
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alb502",
        description="Explain every 502 of an AWS Application Load Balancer from its access logs.",
    )
    parser.add_argument("--version", action="version", version=f"alb502 {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    process = _command(
        commands,
        "process",
        summary="parse ALB access logs, tag every 502 and load-balancer 5xx, write the lake",
        description="Parse ALB access logs, tag every 502 (and every 5xx the load balancer "
        "produced itself) with its cause, and write alb_logs/, alb_errors/ and "
        "alb_log_rejects/ Parquet partitions under --out.",
        examples=PROCESS_EXAMPLES,
    )
    process.add_argument("inputs", nargs="+", metavar="INPUT", help="file, directory or s3:// URI")
    process.add_argument(
        "--out", default="lake", metavar="DIR", help="lake directory or s3:// URI (default: ./lake)"
    )
    process.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    process.set_defaults(run=_process)

    report = _command(
        commands,
        "report",
        summary="the incident report over a lake: causes, load balancers, targets, paths, "
        "timeline, what changed, remedies",
        description="The incident report over a local or s3:// lake written by alb502:\n"
        "tagged 5xx (every 502 and the load balancer's own 5xx) by cause, load\n"
        "balancer, target group, target (with its evidence) and path, a timeline\n"
        "by cause, what rose against a baseline window, and what to do per cause.",
        examples=REPORT_EXAMPLES,
    )
    report.add_argument("lake", metavar="LAKE", help="lake directory or s3:// URI")
    window = report.add_argument_group("window")
    window.add_argument(
        "--since", metavar="TIME", help="start (ISO time, now, or relative: 2h, 30m, 1d)"
    )
    window.add_argument(
        "--until",
        metavar="TIME",
        help="end, exclusive (default: now with --since, else the lake's last entry)",
    )
    window.add_argument(
        "--compare-to",
        metavar="WHEN",
        help="baseline window: a duration back (1d), a start time, or 'none' "
        "(default: the same length just before)",
    )
    filters = report.add_argument_group("filters (repeatable)")
    filters.add_argument("--lb", action="append", default=[], metavar="NAME", help="load balancer")
    filters.add_argument(
        "--target-group",
        action="append",
        default=[],
        metavar="NAME",
        help="target group name or ARN",
    )
    filters.add_argument(
        "--target", action="append", default=[], metavar="IP[:PORT]", help="target"
    )
    filters.add_argument("--cause", action="append", default=[], metavar="CAUSE", help="cause")
    filters.add_argument(
        "--status", action="append", default=[], type=int, metavar="CODE", help="elb_status_code"
    )
    output = report.add_argument_group("output")
    output.add_argument(
        "--format", choices=["text", "json", "csv"], default="text", help="stdout form (text)"
    )
    output.add_argument(
        "--section",
        default="causes",
        choices=SECTIONS,
        metavar="NAME",
        help="the section --format csv prints (default causes): " + ", ".join(SECTIONS),
    )
    output.add_argument("--html", metavar="FILE", help="also write the report as one HTML page")
    output.add_argument(
        "--top", type=int, default=10, metavar="N", help="targets, paths and changes to list (10)"
    )
    report.set_defaults(run=_report)
    _add_backfill(commands)
    _add_query_command(commands)
    return parser


# -- process ---------------------------------------------------------------------


def _process(args: argparse.Namespace) -> int:
    progress = _Progress(sys.stderr, enabled=not args.quiet and sys.stderr.isatty())
    totals = _Totals()
    failed = 0
    started = time.perf_counter()
    # Output files are named after the input's file name: two inputs with the
    # same name in one run would overwrite each other's rows.
    outputs: dict[str, str] = {}
    for item in _expand(args.inputs):
        if isinstance(item, InputError):
            _error(str(item))
            failed += 1
            continue
        source, kind = item
        if kind is not ObjectKind.ACCESS_LOG and kind is not ObjectKind.OTHER:
            totals.skipped[kind.value] += 1
            continue
        name = stem(source)
        if name in outputs:
            _error(
                f"{source}: same file name as {outputs[name]}; not processed "
                "(its output would replace that one's)"
            )
            failed += 1
            continue
        outputs[name] = source
        progress.start(source)
        try:
            # The reader and writer take the cached client (reader.s3_client) for s3:// paths.
            report = process_object(source, args.out)
        except InputError as error:
            progress.clear()
            _error(str(error))
            failed += 1
            continue
        except _write_errors() as error:
            progress.clear()
            _error(f"{source}: cannot write the lake at {args.out}: {_describe(error)}")
            failed += 1
            continue
        totals.add(report)
        progress.done(report)
    progress.clear()
    if not args.quiet:
        print(totals.render(args.out, time.perf_counter() - started))
    return 1 if failed else 0


def _write_errors() -> tuple[type[Exception], ...]:
    return (OSError, *aws_errors())


def _error(message: str) -> None:
    print(f"alb502: error: {message}", file=sys.stderr)


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _expand(inputs: Sequence[str]) -> Iterator[tuple[str, ObjectKind] | InputError]:
    """Every object the inputs name, with what kind of object it is."""
    for given in inputs:
        if given.startswith("s3://"):
            try:
                yield from _s3_objects(given)
            except InputError as error:
                yield error
            continue
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _listed(p.name))
            for file in found:
                yield str(file), object_kind(file.name)
        elif path.exists():
            yield given, object_kind(path.name)
        else:
            yield InputError(f"{given}: no such file or directory")


def _s3_objects(uri: str) -> Iterator[tuple[str, ObjectKind]]:
    location = parse_s3_uri(uri)
    client = s3_client()
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        keys = [obj["Key"] for obj in s3_objects(client, location.bucket, location.key)]
    except (ClientError, BotoCoreError) as error:
        raise InputError(f"{uri}: cannot list ({error})") from error
    exact = [k for k in keys if k == location.key]
    if exact:
        yield uri, object_kind(location.key)
        return
    if not keys:
        raise InputError(f"{uri}: no objects there")
    for key in keys:
        if _listed(key):
            yield f"s3://{location.bucket}/{key}", object_kind(key)


def _listed(name: str) -> bool:
    """Whether a file found under a directory or prefix is taken: a log by its
    suffix, or an object ALB writes beside its logs (counted as skipped)."""
    return name.endswith(LOG_SUFFIXES) or object_kind(name) is not ObjectKind.OTHER


class _Totals:
    def __init__(self) -> None:
        self.objects = self.lines = self.rows = self.rejects = self.bytes = 0
        self.causes: Counter[str] = Counter()
        self.other_5xx: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()

    def add(self, report: ObjectReport) -> None:
        self.objects += 1
        self.lines += report.lines
        self.rows += report.rows
        self.rejects += report.rejects
        self.bytes += report.bytes
        self.causes.update(report.causes)
        self.other_5xx.update(report.other_5xx)

    def render(self, out: str, seconds: float) -> str:
        rate = self.lines / seconds if seconds > 0 else 0.0
        lines = [
            f"objects: {self.objects:,}  lines: {self.lines:,}  rows: {self.rows:,}  "
            f"rejects: {self.rejects:,}  ({seconds:.1f} s, {rate:,.0f} lines/s)",
        ]
        if self.skipped:
            skipped = ", ".join(f"{n} {kind}" for kind, n in sorted(self.skipped.items()))
            lines.append(f"skipped (not access logs): {skipped}")
        total = sum(self.causes.values())
        lines.append(f"502s: {total:,}")
        for cause, count in self.causes.most_common():
            lines.append(f"  {count:>8,}  {cause}")
        if self.other_5xx:
            lines.append(f"other load-balancer 5xx: {sum(self.other_5xx.values()):,}")
            for cause, count in self.other_5xx.most_common():
                lines.append(f"  {count:>8,}  {cause}")
        # The hint for a local lake only: an S3 lake's report needs the reader's
        # credentials, and the README's Athena section is the usual next step there.
        local = self.objects and not out.startswith("s3://")
        lines.append(f"lake: {out}" + (f"   next: alb502 report {out}" if local else ""))
        return "\n".join(lines)


class _Progress:
    """One updating line on a terminal; nothing when stderr is not one."""

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.count = 0

    def start(self, source: str) -> None:
        if self.enabled:
            self.count += 1
            name = os.path.basename(source)
            self.stream.write(f"\r\x1b[K[{self.count}] {name} ...")
            self.stream.flush()

    def done(self, report: ObjectReport) -> None:
        if self.enabled:
            name = os.path.basename(report.source)
            rate = report.lines / report.seconds if report.seconds else 0.0
            self.stream.write(
                f"\r\x1b[K[{self.count}] {name}: {report.lines:,} lines ({rate:,.0f}/s)"
            )
            self.stream.flush()

    def note(self, message: str) -> None:
        if self.enabled:
            self.stream.write(f"\r\x1b[K{message} ...")
            self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# -- report ----------------------------------------------------------------------


def _report(args: argparse.Namespace) -> int:
    from alb502 import report, report_render

    window = report.window_of(args.since, args.until)
    filters = report.Filters(
        load_balancers=tuple(args.lb),
        target_groups=tuple(args.target_group),
        targets=tuple(args.target),
        causes=tuple(args.cause),
        statuses=tuple(args.status),
    )
    progress = _Progress(sys.stderr, enabled=sys.stderr.isatty())
    try:
        result = report.build(
            args.lake,
            window=window,
            baseline=report.baseline_of(window, args.compare_to),
            filters=filters,
            top=args.top,
            progress=progress.note,
        )
    finally:
        progress.clear()
    if args.format == "json":
        print(report_render.render_json(result))
    elif args.format == "csv":
        sys.stdout.write(report_render.render_csv(result, args.section))
    else:
        print(report_render.render_text(result))
    if args.html:
        try:
            Path(args.html).write_text(report_render.render_html(result), encoding="utf-8")
        except OSError as error:
            raise InputError(f"{args.html}: cannot write ({_describe(error)})") from error
        print(f"HTML report: {args.html}", file=sys.stderr)
    return 0


# -- backfill --------------------------------------------------------------------

BACKFILL_EXAMPLES = """\
examples:
  alb502 backfill s3://my-alb-logs/prod --queue "$QUEUE_URL" --since 2026-11-01 --until 2026-11-30
  alb502 backfill s3://my-alb-logs/prod/AWSLogs/123456789012/ --dry-run --since 2026-11-30

s3://LOGBUCKET/PREFIX is where the load balancers log to (the folder that
holds AWSLogs/: the stack's logPrefix), or a folder below it down to
AWSLogs/<account>/elasticloadbalancing/<region>/. Accounts and regions
under it are found by listing folders; then only the day folders from
--since to --until (UTC, by the key's yyyy/mm/dd folders) are listed, never
the whole bucket. Without --since every day folder up to --until (default:
today) is taken. Only access logs are queued: connection logs, health check
logs and ELBAccessLogTestFile are left alone.

Each object becomes the message S3 sends for a new object (ObjectCreated:Put),
sent with SendMessageBatch in batches of 10; the deployed function does the
work, the queue and its maxConcurrency are the throttle. The lake's file
names come from the objects' names, so queueing an object again rewrites
the same files: a backfill can be repeated or resumed with --since the day
after the last day completed (printed at the end, and on an error or an
interruption).
QUEUE_URL is the stack output QueueUrl:
  aws cloudformation describe-stacks --stack-name Alb502 \\
    --query "Stacks[0].Outputs[?OutputKey=='QueueUrl'].OutputValue" --output text

Progress goes to stderr, one line per day; the summary (objects, bytes,
messages) to stdout; with --dry-run, each object that would be queued, and
nothing is sent. Exit status: 0 when every object was queued, 1 on an error
(one line on stderr; a missing queue, credentials or bucket is found before
anything is sent), 2 on a usage error.
"""


def _add_backfill(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backfill = _command(
        commands,
        "backfill",
        summary="queue a log bucket's existing access logs for the deployed function",
        description="Queue the access logs of a date range in an ALB log bucket for the "
        "deployed alb502 function, as S3 notifications on its SQS queue.",
        examples=BACKFILL_EXAMPLES,
    )
    backfill.add_argument("logs", metavar="s3://LOGBUCKET/PREFIX", help="where the ALBs log to")
    backfill.add_argument(
        "--queue",
        metavar="QUEUE_URL",
        help="the stack's queue (output QueueUrl); required unless --dry-run",
    )
    backfill.add_argument("--since", metavar="DAY", help="first day, YYYY-MM-DD (UTC)")
    backfill.add_argument("--until", metavar="DAY", help="last day, YYYY-MM-DD (default: today)")
    backfill.add_argument(
        "--dry-run", action="store_true", help="list the objects that would be queued; send nothing"
    )
    backfill.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    backfill.set_defaults(run=_backfill)


def _backfill(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from alb502.backfill import DayDone, LogObject, backfill, parse_day
    from alb502.errors import BackfillError

    try:
        since = parse_day(args.since) if args.since else None
        until = parse_day(args.until) if args.until else None
    except BackfillError as error:
        _error(str(error))
        return 2
    if args.queue is None and not args.dry_run:
        _error("--queue QUEUE_URL is required (the stack output QueueUrl), or --dry-run")
        return 2
    verb = "would queue" if args.dry_run else "queued"
    last: list[DayDone] = []

    def on_day(done: DayDone) -> None:
        last[:] = [done]
        if not args.quiet:
            t = done.totals
            print(
                f"[{done.index}/{done.days}] {done.day}: {verb} {done.objects:,} objects, "
                f"{_size(done.bytes)}  (total {t.objects:,} objects, {_size(t.bytes)}, "
                f"{t.messages:,} messages)",
                file=sys.stderr,
                flush=True,
            )

    def on_object(obj: LogObject) -> None:
        if args.dry_run:
            print(f"{obj.uri}\t{obj.size}")

    def resume_hint() -> None:
        if last:
            resume = last[0].day + timedelta(days=1)
            print(
                f"alb502: last day completed: {last[0].day}; resume with --since {resume}",
                file=sys.stderr,
            )

    try:
        result = backfill(
            args.logs,
            args.queue,
            since=since,
            until=until,
            dry_run=args.dry_run,
            on_day=on_day,
            on_object=on_object,
        )
    except BackfillError as error:
        _error(str(error))
        resume_hint()
        return 1
    except KeyboardInterrupt:
        resume_hint()
        raise
    t = result.totals
    sent = "nothing sent (dry run)" if args.dry_run else f"{t.batches:,} SendMessageBatch calls"
    print(
        f"objects: {t.objects:,}  bytes: {t.bytes:,} ({_size(t.bytes)})  "
        f"messages: {t.messages:,}  ({sent})"
    )
    if result.days:
        print(
            f"days: {result.days[0]} .. {result.days[-1]} ({len(result.days)})  "
            f"last day completed: {result.last_day}"
        )
    else:
        print("days: none in the range")
    return 0


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# -- query -----------------------------------------------------------------------

QUERY_EXAMPLES = """\
examples:
  alb502 query errors_502_by_cause lake                    (the last 24 hours)
  alb502 query longest_failure_runs --since 2h lake
  alb502 query target_outages --since 2026-12-01T04:00:00Z --until 2026-12-01T05:00:00Z lake
  alb502 query --list

The SQL is the Athena saved query of infra/queries/NAME.sql, bound to the
window and transpiled from Trino to DuckDB by sqlglot (needs the duckdb and
sqlglot packages: pip install 'alb502[query]'). LAKE is a local lake:
'alb502 process --out DIR' writes one; 'aws s3 sync s3://LAKE-BUCKET DIR'
downloads the deployed one. The last line on stderr gives the execution
parameters the same window takes in Athena (one value per ? of the query,
in order).
"""


class _ListQueries(argparse.Action):
    """``--list``: print the saved queries and exit, like ``--version``."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from alb502 import query

        queries = query.load_saved_queries()
        width = max((len(q.name) for q in queries), default=0)
        for saved in queries:
            summary = saved.description.split(". ")[0]
            room = max(40, 98 - width)
            if len(summary) > room:
                summary = summary[: room - 3] + "..."
            print(f"{saved.name:<{width}}  {summary}")
        parser.exit()


def _add_query_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    query = _command(
        commands,
        "query",
        summary="run one of the Athena saved queries locally over a lake, for a time window",
        description="Run an Athena saved query (infra/queries/NAME.sql) on DuckDB over a "
        "local lake, for the window [--since, --until).",
        examples=QUERY_EXAMPLES,
    )
    query.add_argument("name", metavar="NAME", help="saved query name (see --list)")
    query.add_argument("lake", metavar="LAKE", help="lake directory")
    query.add_argument(
        "--since",
        metavar="TIME",
        help="window start: ISO 8601, UTC unless it has an offset (2026-12-01T04:00:00Z), "
        "now, or a duration before now (30m, 2h, 7d); default: 24 hours before --until",
    )
    query.add_argument("--until", metavar="TIME", help="window end, same forms (default: now)")
    query.add_argument(
        "--list", nargs=0, action=_ListQueries, help="list the saved queries and exit"
    )
    query.set_defaults(run=_query)


def _query(args: argparse.Namespace) -> int:
    from alb502 import query

    queries = query.load_saved_queries()
    if not queries:
        raise InputError(f"no saved queries found in {query.QUERIES_DIR} (run from a checkout)")
    saved = query.find(args.name, queries)
    window = query.window(args.since, args.until)
    started = time.perf_counter()
    try:
        import duckdb  # noqa: F401
        import sqlglot  # noqa: F401
    except ImportError:
        raise InputError(
            "alb502 query needs duckdb and sqlglot: pip install 'alb502[query]'"
        ) from None
    lake = Path(args.lake)
    table = query.run(saved, lake, window)
    print(query.render(table))
    scanned = query.scanned_bytes(saved, lake, window)
    print(
        f"-- {saved.name}: {table.num_rows:,} rows, {window.since:%Y-%m-%d %H:%M:%S} to "
        f"{window.until:%Y-%m-%d %H:%M:%S} UTC, {time.perf_counter() - started:.1f} s; "
        f"in Athena it would scan {scanned:,} bytes of Parquet column chunks\n"
        f"-- Athena execution parameters for this window: {' '.join(window.values(saved))}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
