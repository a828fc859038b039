"""The on-call report over a lake: which load balancer, target group, target
and path the tagged 5xx are on, since when, what changed against a baseline
window, and what to do about each cause (``causes.md`` v2).

:func:`build` reads the lake (:mod:`alb502.lake`) and returns a
:class:`Report`: plain rows per section, which :mod:`alb502.report_render`
turns into text, JSON, CSV or an HTML page. Tagged rows come from
``alb_errors`` when the lake has it, else from ``alb_logs`` (rows with a
cause); entry counts (for failure shares) stream over ``alb_logs`` reading
only the four columns they need.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from alb502.causes import CAUSES, REMEDIES
from alb502.errors import InputError
from alb502.fields import ALB_ERRORS_TABLE, ALB_LOGS_SCHEMA, ALB_LOGS_TABLE
from alb502.lake import (
    Lake,
    dataset,
    days_between,
    open_lake,
    plain,
    reading,
    rejects,
)
from alb502.query import parse_duration, parse_time

#: Version of the JSON form (``--format json``); bumped when a field is
#: renamed or removed, not when one is added.
SCHEMA_VERSION = 1

#: Sections in the order the text and HTML show them; the names of
#: ``--format csv --section`` and of the JSON ``sections`` object.
SECTIONS: tuple[str, ...] = (
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

#: The timeline shows at most this many buckets; buckets widen to fit.
TIMELINE_ROWS = 24
_BUCKET_MINUTES = (1, 5, 15, 60, 180, 360, 1440)

_TAGGED_COLUMNS = [
    "elb",
    "target_group_arn",
    "target_ip",
    "target_port",
    "request_ts",
    "elb_status_code",
    "error_source",
    "error_reason",
    "cause",
    "request_url",
    "target_failure_run",
]
_ENTRY_KEYS = ["elb", "target_group_arn", "target_ip", "target_port"]
#: Rows per scanned batch: big enough for the kernels, small enough for memory.
_BATCH_ROWS = 256 * 1024
_TS = pa.timestamp("ms", tz="UTC")


# -- what to report on --------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """``[since, until)`` in UTC; None is open (the lake's first or last entry)."""

    since: datetime | None = None
    until: datetime | None = None

    def length(self) -> timedelta | None:
        if self.since is None or self.until is None:
            return None
        return self.until - self.since


@dataclass(frozen=True)
class Filters:
    """Which rows count. Empty means no filter; values within one filter are ORed.

    A load balancer matches by its ``elb`` value (the resource ID,
    ``app/NAME/ID``) or NAME; a target group by its ARN
    (``...:targetgroup/NAME/ID``) or NAME; a target by ``IP`` or ``IP:PORT``
    (AWS, "Access log entries", fields ``elb`` and ``target_group_arn``).
    ``causes`` and ``statuses`` (``elb_status_code``) filter the tagged rows only,
    not the entries that failure shares divide by.
    """

    load_balancers: tuple[str, ...] = ()
    target_groups: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    statuses: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        unknown = [c for c in self.causes if c not in CAUSES]
        if unknown:
            raise InputError(f"unknown cause {unknown[0]!r} (one of: {', '.join(CAUSES)})")
        wrong = [s for s in self.statuses if not 500 <= s <= 599]
        if wrong:
            raise InputError(f"status {wrong[0]} is not a 5xx: the report covers tagged 5xx only")

    def as_dict(self) -> dict[str, list[Any]]:
        return {
            "load_balancers": list(self.load_balancers),
            "target_groups": list(self.target_groups),
            "targets": list(self.targets),
            "causes": list(self.causes),
            "statuses": list(self.statuses),
        }


def window_of(since: str | None, until: str | None, now: datetime | None = None) -> Window:
    """The report window from ``--since``/``--until``: with ``--since`` alone it
    ends now."""
    now = now or datetime.now(UTC)
    start = parse_time(since, now=now) if since else None
    end = parse_time(until, now=now) if until else (now if start else None)
    if start and end and start >= end:
        raise InputError(f"--since ({start:%Y-%m-%dT%H:%M:%SZ}) is not before --until")
    return Window(start, end)


def baseline_of(
    window: Window, compare_to: str | None = None, now: datetime | None = None
) -> Window | None:
    """The baseline window of ``--compare-to``.

    None (the default): the same length just before the window. ``none``: no
    comparison. A duration (``1d``, ``7d``): the window that long before (the
    same hour yesterday). A time: the same length starting then. Needs a
    window with a start and an end.
    """
    if compare_to is not None and compare_to.strip().lower() == "none":
        return None
    length = window.length()
    if length is None or window.since is None:
        if compare_to is None:
            return None
        raise InputError("--compare-to needs a window: give --since (and optionally --until)")
    if compare_to is None:
        return Window(window.since - length, window.since)
    shift = parse_duration(compare_to)
    if shift is not None:
        return Window(window.since - shift, window.since - shift + length)
    start = parse_time(compare_to, now=now or datetime.now(UTC))
    return Window(start, start + length)


# -- the report -----------------------------------------------------------------


@dataclass
class Report:
    """Everything the report shows; the renderers only format it.

    ``sections`` maps each name of :data:`SECTIONS` to its rows (dicts with
    the same keys in every row; times are aware datetimes).
    """

    lake: str
    #: ``alb_errors`` or ``alb_logs``: where the tagged rows were read.
    source_table: str
    window: Window
    baseline: Window | None
    filters: Filters
    totals: dict[str, Any]
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Width of the timeline's buckets.
    bucket_minutes: int = 0
    #: Files read (Parquet), to show the day pruning worked.
    files_read: int = 0


def build(
    lake_uri: str | Path,
    *,
    window: Window | None = None,
    baseline: Window | None = None,
    filters: Filters | None = None,
    top: int = 10,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Read the lake and compute every section of the report."""
    window = window or Window()
    filters = filters or Filters()
    lake = open_lake(lake_uri)
    say = progress or (lambda _message: None)

    # One read covers the window and the baseline (only their days, only
    # their times: a baseline a week back reads two days, not eight); each
    # is cut out in memory.
    reads = [window] + ([baseline] if baseline else [])
    error_days = set(lake.days(ALB_ERRORS_TABLE))
    all_days = sorted(set(lake.days(ALB_LOGS_TABLE)) | error_days)
    days = sorted({d for w in reads for d in days_between(w.since, w.until, all_days)})
    times = _any(_time_filter(w.since, w.until) for w in reads)
    window_days = days_between(window.since, window.until, all_days)

    say(f"listing {len(days)} day partition(s)")
    # Each partition is listed once (on S3 every listing is a request).
    logs = lake.files(ALB_LOGS_TABLE, days)
    errors = lake.files(ALB_ERRORS_TABLE, [d for d in days if d in error_days])
    tagged_files, logs_files, source_table = _tagged_sources(days, errors, logs)
    entry_files = [f for day in window_days for f in logs.get(day, [])]
    with reading(lake):
        say(f"reading {len(tagged_files) + len(logs_files)} file(s) of tagged rows")
        tagged = _read_tagged(lake, tagged_files, logs_files, times, filters)
        say(f"counting entries in {len(entry_files)} file(s)")
        entries = _count_entries(lake, entry_files, window, filters)
        reject_rows = rejects(lake, window_days)
    now_rows = _between(tagged, window)
    base_rows = _between(tagged, baseline) if baseline else None

    resolved = Window(
        window.since or _ts_bound(now_rows, pc.min),
        window.until or _end_bound(now_rows),
    )
    report = Report(
        lake=str(lake_uri),
        source_table=source_table,
        window=resolved,
        baseline=baseline,
        filters=filters,
        totals=_totals(now_rows, base_rows, entries, reject_rows),
        files_read=len(set(tagged_files) | set(logs_files) | set(entry_files)),
    )
    sections = report.sections
    sections["causes"] = _causes(now_rows, base_rows)
    sections["status_codes"] = _status_codes(now_rows, base_rows)
    sections["load_balancers"] = _load_balancers(now_rows, entries)
    sections["target_groups"] = _target_groups(now_rows, entries)
    sections["targets"] = _targets(now_rows, entries, top)
    sections["paths"] = _paths(now_rows, base_rows, top)
    report.bucket_minutes, sections["timeline"] = _timeline(now_rows, resolved)
    sections["changes"] = _changes(now_rows, base_rows, top) if base_rows is not None else []
    sections["error_reasons"] = _error_reasons(now_rows)
    sections["rejects"] = [
        {"reason": key[0], "count": n} for key, n in _counts(reject_rows, ["reason"])
    ]
    return report


def render(lake_uri: str | Path, *, top: int = 10) -> str:
    """The text report over the whole lake (what ``alb502 report LAKE`` prints)."""
    from alb502.report_render import render_text

    return render_text(build(lake_uri, top=top))


# -- reading --------------------------------------------------------------------


def _tagged_sources(
    days: list[str], errors: dict[str, list[str]], logs: dict[str, list[str]]
) -> tuple[list[str], list[str], str]:
    """Per input object (file stem), its ``alb_errors`` file when there is one,
    else its ``alb_logs`` file (objects processed before the table existed)."""
    from_errors: list[str] = []
    from_logs: list[str] = []
    for day in days:
        stems = {_stem(f) for f in errors.get(day, [])}
        from_errors += errors.get(day, [])
        from_logs += [f for f in logs.get(day, []) if _stem(f) not in stems]
    table = ALB_ERRORS_TABLE if from_errors and not from_logs else ALB_LOGS_TABLE
    if from_errors and from_logs:
        table = f"{ALB_ERRORS_TABLE}+{ALB_LOGS_TABLE}"
    return from_errors, from_logs, table


def _stem(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _read_tagged(
    lake: Lake,
    error_files: list[str],
    log_files: list[str],
    times: ds.Expression,
    filters: Filters,
) -> pa.Table:
    condition = times & _entry_filter(filters) & _tag_filter(filters)
    parts = [dataset(lake, []).schema.empty_table().select(_TAGGED_COLUMNS)]
    if error_files:
        parts.append(_scan(dataset(lake, error_files), _TAGGED_COLUMNS, condition))
    if log_files:
        tagged = condition & pc.is_valid(pc.field("cause"))
        parts.append(_scan(dataset(lake, log_files), _TAGGED_COLUMNS, tagged))
    return _with_keys(plain(pa.concat_tables(parts, promote_options="permissive")))


def _scan(data: ds.Dataset, columns: list[str], condition: ds.Expression) -> pa.Table:
    """The matching rows, streamed a batch at a time with little read-ahead:
    memory holds a few batches and what matched, not whole files."""
    scanner = data.scanner(
        columns=columns, filter=condition, batch_size=_BATCH_ROWS, fragment_readahead=1
    )
    return pa.Table.from_batches(scanner.to_batches(), schema=scanner.projected_schema)


def _with_keys(table: pa.Table) -> pa.Table:
    """Add ``target`` (``ip:port``, empty when none), ``path`` (the URL without
    its query) and ``is_502``.

    ``request_url`` is ``scheme://host:port/uri`` as the load balancer logs it
    (AWS, "Access log entries": https://docs.aws.amazon.com/elasticloadbalancing/
    latest/application/load-balancer-access-logs.html#access-log-entry-format),
    so the host stays in the path: one load balancer often serves several.
    """
    port = pc.cast(table.column("target_port"), pa.string())
    target = pc.if_else(
        pc.equal(table.column("target_ip"), ""),
        "",
        pc.binary_join_element_wise(table.column("target_ip"), pc.fill_null(port, ""), ":"),
    )
    path = pc.replace_substring_regex(pc.fill_null(table.column("request_url"), ""), r"\?.*$", "")
    is_502 = pc.cast(pc.equal(table.column("elb_status_code"), 502), pa.int64())
    return (
        table.append_column("target", pc.fill_null(target, ""))
        .append_column("path", path)
        .append_column("is_502", is_502)
    )


def _count_entries(lake: Lake, files: list[str], window: Window, filters: Filters) -> pa.Table:
    """Entries per load balancer, target group and target in the window,
    streamed per row group (memory stays at one batch and the running counts)."""
    keys = [*_ENTRY_KEYS]
    if not files:
        return pa.table(
            {k: pa.array([], ALB_LOGS_SCHEMA.field(k).type) for k in keys}
            | {"entries": pa.array([], pa.int64())}
        )
    scanner = dataset(lake, files).scanner(
        columns=keys,
        filter=_time_filter(window.since, window.until) & _entry_filter(filters),
        batch_size=_BATCH_ROWS,
        fragment_readahead=1,
    )
    partial = [
        pa.Table.from_batches([batch]).group_by(keys).aggregate([([], "count_all")])
        for batch in scanner.to_batches()
        if batch.num_rows
    ]
    if not partial:
        return _count_entries(lake, [], window, filters)
    counts = pa.concat_tables(partial, promote_options="permissive")
    summed = plain(counts).group_by(keys).aggregate([("count_all", "sum")])
    return summed.rename_columns([*keys, "entries"])


def _time_filter(since: datetime | None, until: datetime | None) -> ds.Expression:
    condition = pc.scalar(True)
    if since is not None:
        condition = condition & (pc.field("request_ts") >= pa.scalar(since, _TS))
    if until is not None:
        condition = condition & (pc.field("request_ts") < pa.scalar(until, _TS))
    return condition


def _entry_filter(filters: Filters) -> ds.Expression:
    condition = pc.scalar(True)
    if filters.load_balancers:
        condition = condition & _any(
            (_text("elb") == name) | pc.match_substring(_text("elb"), f"/{name}/")
            for name in filters.load_balancers
        )
    if filters.target_groups:
        condition = condition & _any(
            (_text("target_group_arn") == name)
            | pc.match_substring(_text("target_group_arn"), f"targetgroup/{name}/")
            for name in filters.target_groups
        )
    if filters.targets:
        condition = condition & _any(_target_match(t) for t in filters.targets)
    return condition


def _target_match(target: str) -> ds.Expression:
    ip, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or ip.endswith(":"):  # a bare IPv4 or IPv6 address
        return _text("target_ip") == target
    return (_text("target_ip") == ip.strip("[]")) & (pc.field("target_port") == int(port))


def _text(column: str) -> ds.Expression:
    """A column read as a dictionary, as strings (compute kernels for text
    take no dictionaries)."""
    return pc.field(column).cast(pa.string())


def _tag_filter(filters: Filters) -> ds.Expression:
    condition = pc.scalar(True)
    if filters.causes:
        condition = condition & _text("cause").isin(list(filters.causes))
    if filters.statuses:
        condition = condition & pc.field("elb_status_code").isin(list(filters.statuses))
    return condition


def _any(conditions: Iterable[ds.Expression]) -> ds.Expression:
    result: ds.Expression | None = None
    for condition in conditions:
        result = condition if result is None else result | condition
    return result if result is not None else pc.scalar(True)


def _between(table: pa.Table, window: Window) -> pa.Table:
    mask = pc.is_valid(table.column("request_ts"))
    if window.since is not None:
        mask = pc.and_(
            mask, pc.greater_equal(table.column("request_ts"), pa.scalar(window.since, _TS))
        )
    if window.until is not None:
        mask = pc.and_(mask, pc.less(table.column("request_ts"), pa.scalar(window.until, _TS)))
    return table.filter(mask)


def _ts_bound(table: pa.Table, reduce: Callable[[Any], Any]) -> datetime | None:
    if table.num_rows == 0:
        return None
    value: datetime | None = reduce(table.column("request_ts")).as_py()
    return value


def _end_bound(table: pa.Table) -> datetime | None:
    last = _ts_bound(table, pc.max)
    return last + timedelta(milliseconds=1) if last else None


# -- sections -----------------------------------------------------------------


def _counts(table: pa.Table, keys: list[str]) -> list[tuple[tuple[Any, ...], int]]:
    """Row counts per key combination, largest first (ties by key)."""
    if table.num_rows == 0:
        return []
    grouped = table.group_by(keys).aggregate([([], "count_all")])
    rows = zip(*(grouped.column(k).to_pylist() for k in keys), strict=True)
    counted = list(zip(rows, grouped.column("count_all").to_pylist(), strict=True))
    return sorted(counted, key=lambda item: (-item[1], tuple(str(v) for v in item[0])))


def _count_map(table: pa.Table | None, keys: list[str]) -> dict[tuple[Any, ...], int]:
    return dict(_counts(table, keys)) if table is not None else {}


def _aggregate(
    table: pa.Table, keys: list[str], aggregations: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Rows of ``keys`` plus ``<column>_<function>`` per aggregation."""
    if table.num_rows == 0:
        return []
    grouped = table.group_by(keys).aggregate([(c, f) for c, f in aggregations])
    rows: list[dict[str, Any]] = grouped.to_pylist()
    return rows


def _split_502(table: pa.Table, keys: list[str]) -> dict[tuple[Any, ...], tuple[int, int]]:
    """Per key: (502s, other load-balancer 5xx)."""
    result = {}
    for row in _aggregate(table, keys, [("is_502", "sum"), ("is_502", "count")]):
        key = tuple(row[k] for k in keys)
        result[key] = (row["is_502_sum"], row["is_502_count"] - row["is_502_sum"])
    return result


def _totals(
    rows: pa.Table, baseline: pa.Table | None, entries: pa.Table, reject_rows: pa.Table
) -> dict[str, Any]:
    errors = rows.num_rows
    status = pc.equal(rows.column("elb_status_code"), 502)
    is_502 = rows.filter(status)
    by_source = dict(_counts(is_502, ["error_source"]))
    entry_count = int(pc.sum(entries.column("entries")).as_py() or 0)
    return {
        "entries": entry_count,
        "errors": errors,
        "errors_502": is_502.num_rows,
        "elb_502": by_source.get(("elb",), 0),
        "target_502": by_source.get(("target",), 0),
        "elb_5xx_other": errors - is_502.num_rows,
        "error_share": errors / entry_count if entry_count else None,
        "baseline_errors": baseline.num_rows if baseline is not None else None,
        "rejects": reject_rows.num_rows,
    }


def _causes(rows: pa.Table, baseline: pa.Table | None) -> list[dict[str, Any]]:
    split = _split_502(rows, ["cause"])
    before = _count_map(baseline, ["cause"])
    return [
        {
            "cause": cause,
            "errors": count,
            "errors_502": split[(cause,)][0],
            "elb_5xx_other": split[(cause,)][1],
            "baseline": before.get((cause,), 0) if baseline is not None else None,
            "remedy": REMEDIES.get(cause, ""),
        }
        for (cause,), count in _counts(rows, ["cause"])
    ]


def _status_codes(rows: pa.Table, baseline: pa.Table | None) -> list[dict[str, Any]]:
    keys = ["elb_status_code", "error_source"]
    before = _count_map(baseline, keys)
    ordered = sorted(_counts(rows, keys), key=lambda item: (item[0][0] != 502, -item[1]))
    return [
        {
            "elb_status_code": status,
            "error_source": source,
            "errors": count,
            "baseline": before.get((status, source), 0) if baseline is not None else None,
        }
        for (status, source), count in ordered
    ]


def _entries_by(entries: pa.Table, keys: list[str]) -> dict[tuple[Any, ...], int]:
    return {
        tuple(row[k] for k in keys): row["entries_sum"]
        for row in _aggregate(entries, keys, [("entries", "sum")])
    }


def _share(errors: int, entries: int) -> float | None:
    return round(errors / entries, 6) if entries else None


def _load_balancers(rows: pa.Table, entries: pa.Table) -> list[dict[str, Any]]:
    return _by_keys(rows, entries, ["elb"])


def _target_groups(rows: pa.Table, entries: pa.Table) -> list[dict[str, Any]]:
    return _by_keys(rows, entries, ["target_group_arn", "elb"])


def _by_keys(rows: pa.Table, entries: pa.Table, keys: list[str]) -> list[dict[str, Any]]:
    totals = _entries_by(entries, keys)
    split = _split_502(rows, keys)
    result = []
    for key in set(totals) | set(split):
        e502, other = split.get(key, (0, 0))
        count = totals.get(key, 0)
        result.append(
            {
                **dict(zip(keys, key, strict=True)),
                "entries": count,
                "errors": e502 + other,
                "errors_502": e502,
                "elb_5xx_other": other,
                "error_share": _share(e502 + other, count),
            }
        )
    return sorted(result, key=lambda r: (-r["errors"], -r["entries"], str(r[keys[0]])))


def _targets(rows: pa.Table, entries: pa.Table, top: int) -> list[dict[str, Any]]:
    """The targets with the most tagged rows, with their evidence."""
    with_target = rows.filter(pc.not_equal(rows.column("target"), ""))
    keys = ["target", "target_group_arn", "elb"]
    stats = _aggregate(
        with_target,
        keys,
        [
            ("is_502", "count"),
            ("is_502", "sum"),
            ("request_ts", "min"),
            ("request_ts", "max"),
            ("target_failure_run", "max"),
        ],
    )
    stats.sort(key=lambda r: (-r["is_502_count"], r["target"]))
    causes: dict[tuple[Any, ...], list[tuple[str, int]]] = defaultdict(list)
    for (target, group, elb, cause), n in _counts(with_target, [*keys, "cause"]):
        causes[(target, group, elb)].append((cause, n))
    per_target = _target_entries(entries)
    result = []
    for row in stats[:top]:
        key = (row["target"], row["target_group_arn"], row["elb"])
        count = per_target.get(key, 0)
        ranked = causes[key]
        result.append(
            {
                "target": row["target"],
                "target_group_arn": row["target_group_arn"],
                "elb": row["elb"],
                "errors": row["is_502_count"],
                "errors_502": row["is_502_sum"],
                "entries": count,
                "failure_share": _share(row["is_502_count"], count),
                "first_failure": row["request_ts_min"],
                "last_failure": row["request_ts_max"],
                "longest_failure_run": row["target_failure_run_max"],
                "cause": ranked[0][0],
                "causes": {cause: n for cause, n in ranked},
            }
        )
    return result


def _target_entries(entries: pa.Table) -> dict[tuple[Any, ...], int]:
    with_ip = entries.filter(pc.not_equal(entries.column("target_ip"), ""))
    if with_ip.num_rows == 0:
        return {}
    keyed = _with_target_key(with_ip)
    return _entries_by(keyed, ["target", "target_group_arn", "elb"])


def _with_target_key(table: pa.Table) -> pa.Table:
    port = pc.fill_null(pc.cast(table.column("target_port"), pa.string()), "")
    return table.append_column(
        "target", pc.binary_join_element_wise(table.column("target_ip"), port, ":")
    )


def _paths(rows: pa.Table, baseline: pa.Table | None, top: int) -> list[dict[str, Any]]:
    stats = _aggregate(
        rows, ["path"], [("is_502", "count"), ("is_502", "sum"), ("target", "count_distinct")]
    )
    stats.sort(key=lambda r: (-r["is_502_count"], r["path"]))
    before = _count_map(baseline, ["path"])
    top_cause: dict[str, str] = {}
    for (path, cause), _n in _counts(rows, ["path", "cause"]):
        top_cause.setdefault(path, cause)
    return [
        {
            "path": row["path"],
            "errors": row["is_502_count"],
            "errors_502": row["is_502_sum"],
            "targets": row["target_count_distinct"],
            "cause": top_cause[row["path"]],
            "baseline": before.get((row["path"],), 0) if baseline is not None else None,
        }
        for row in stats[:top]
    ]


def _timeline(rows: pa.Table, window: Window) -> tuple[int, list[dict[str, Any]]]:
    """Tagged rows per bucket and cause; empty buckets are rows with 0."""
    if window.since is None or window.until is None:
        return 0, []
    span_minutes = (window.until - window.since).total_seconds() / 60
    width = next((b for b in _BUCKET_MINUTES if span_minutes / b <= TIMELINE_ROWS), 1440)
    step = timedelta(minutes=width)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start = epoch + ((window.since - epoch) // step) * step
    counts: dict[tuple[datetime, str], int] = {}
    if rows.num_rows:
        buckets = pc.floor_temporal(rows.column("request_ts"), multiple=width, unit="minute")
        keyed = pa.table({"bucket": buckets, "cause": rows.column("cause")})
        counts = {(b, c): n for (b, c), n in _counts(keyed, ["bucket", "cause"])}
    by_bucket: dict[datetime, dict[str, int]] = defaultdict(dict)
    for (bucket, cause), n in counts.items():
        by_bucket[bucket][cause] = n
    result = []
    moment = start
    while moment < window.until:
        causes = dict(sorted(by_bucket.get(moment, {}).items(), key=lambda i: (-i[1], i[0])))
        result.append(
            {
                "start": moment,
                "end": moment + step,
                "errors": sum(causes.values()),
                "causes": causes,
            }
        )
        moment += step
    return width, result


def _changes(rows: pa.Table, baseline: pa.Table, top: int) -> list[dict[str, Any]]:
    """What rose against the baseline: causes, targets, paths, largest rise first."""
    result = []
    for kind, key in (("cause", "cause"), ("target", "target"), ("path", "path")):
        now = _count_map(rows, [key])
        before = _count_map(baseline, [key])
        rose = [
            {
                "kind": kind,
                "key": name[0],
                "errors": n,
                "baseline": before.get(name, 0),
                "change": n - before.get(name, 0),
            }
            for name, n in now.items()
            if name[0] and n > before.get(name, 0)
        ]
        rose.sort(key=lambda r: (-r["change"], r["key"]))
        result += rose[:top]
    return result


def _error_reasons(rows: pa.Table) -> list[dict[str, Any]]:
    keys = ["cause", "error_reason", "elb_status_code"]
    return [
        {"cause": cause, "error_reason": reason, "elb_status_code": status, "errors": n}
        for (cause, reason, status), n in _counts(rows, keys)
    ]
