"""The ``alb502`` command line: a thin adapter over the library.

alb502 process [--out DIR] INPUT...   parse, tag and write the lake
alb502 report [options] LAKE          the incident report over a lake (local or s3://)
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
from alb502.reader import aws_errors, parse_s3_uri, s3_client

PROCESS_EXAMPLES = """\
examples:
  alb502 process AWSLogs/123456789012/elasticloadbalancing/us-east-1/2026/11/20/
  alb502 process --out /tmp/lake one.log.gz other.log
  alb502 process --out s3://my-lake/alb502 s3://my-alb-logs/AWSLogs/123456789012/

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
  alb502 report --since 2h s3://my-lake/alb502/
  alb502 report --since 2026-11-20T10:00Z --until 2026-11-20T11:00Z --lb my-alb lake
  alb502 report --since 1h --compare-to 1d --cause target_restarting lake
  alb502 report --since 6h --format json lake > report.json
  alb502 report --since 6h --format csv --section targets lake > targets.csv
  alb502 report --since 6h --html report.html lake

LAKE is a lake directory or the s3:// URI of a deployed lake (credentials
from the usual AWS chain; the endpoint from AWS_ENDPOINT_URL_S3 or
AWS_ENDPOINT_URL when set). Only the day partitions the window touches are
read; tagged rows come from alb_errors when the lake has it. Times are ISO
8601 (UTC unless they carry an offset) or relative to now: 90s, 30m, 2h, 1d,
1w. Without --since the report covers the whole lake and compares nothing.
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alb502",
        description="Explain every 502 of an AWS Application Load Balancer from its access logs.",
    )
    parser.add_argument("--version", action="version", version=f"alb502 {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    process = commands.add_parser(
        "process",
        help="parse ALB access logs, tag every 502, write the Parquet lake",
        description="Parse ALB access logs, tag every 502 with its cause, and write "
        "alb_logs/ and alb_log_rejects/ Parquet partitions under --out.",
        epilog=PROCESS_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    process.add_argument("inputs", nargs="+", metavar="INPUT", help="file, directory or s3:// URI")
    process.add_argument(
        "--out", default="lake", metavar="DIR", help="lake directory or s3:// URI (default: ./lake)"
    )
    process.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    process.set_defaults(run=_process)

    report = commands.add_parser(
        "report",
        help="the incident report over a lake: causes, load balancers, targets, paths, "
        "timeline, what changed, remedies",
        description="The incident report over a local or s3:// lake written by alb502:\n"
        "tagged 5xx (every 502 and the load balancer's own 5xx) by cause, load\n"
        "balancer, target group, target (with its evidence) and path, a timeline\n"
        "by cause, what rose against a baseline window, and what to do per cause.",
        epilog=REPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("lake", metavar="LAKE", help="lake directory or s3:// URI")
    window = report.add_argument_group("window")
    window.add_argument("--since", metavar="TIME", help="start (ISO time or relative: 2h, 30m, 1d)")
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
        choices=_report_sections(),
        metavar="NAME",
        help="the section --format csv prints (default causes): " + ", ".join(_report_sections()),
    )
    output.add_argument("--html", metavar="FILE", help="also write the report as one HTML page")
    output.add_argument(
        "--top", type=int, default=10, metavar="N", help="targets, paths and changes to list (10)"
    )
    report.set_defaults(run=_report)
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
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=location.bucket, Prefix=location.key
        )
        keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
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
        self.skipped: Counter[str] = Counter()

    def add(self, report: ObjectReport) -> None:
        self.objects += 1
        self.lines += report.lines
        self.rows += report.rows
        self.rejects += report.rejects
        self.bytes += report.bytes
        self.causes.update(report.causes)

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
        # `alb502 report` reads a local lake; an S3 lake is for Athena.
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


def _report_sections() -> tuple[str, ...]:
    # The names only; importing alb502.report would load pyarrow for --help.
    return (
        "causes",
        "status_codes",
        "load_balancers",
        "target_groups",
        "targets",
        "paths",
        "timeline",
        "changes",
        "error_reasons",
        "rejects",
    )


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
