"""Each target's timeline in one object: the evidence rules 4 and 5 rest on.

``causes.md`` v2 decides a failed entry (a target was chosen, no status line
came back, the load balancer answered 502 or 504) from its target's
timeline in the object: the run of failures it belongs to, the gaps to the
target's previous and next responses, the failure share within +-15 s,
whether the target left the rotation, and whether its path fails on several
targets. One object is one load balancer node's five minutes; that is all
the evidence a verdict can rest on (a documented limit).

The object is never held: each parse worker reduces its chunk to a few
narrow columns (:func:`chunk_timeline`, about 20 bytes per entry), and
:class:`ObjectTimeline` turns them into per-entry :class:`Evidence` once
the whole object is read. Everything is column-wise pyarrow: an outage
object of a million failures is as cheap as a quiet one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

#: The +-window around an entry, and how long before the object's last
#: entry a target must have gone quiet to have "left the rotation" (seconds).
WINDOW_S = 15.0
#: Runs and window shares that make an outage, or leave a failure sporadic.
OUTAGE_RUN = 3
OUTAGE_SHARE = 0.5
OUTAGE_WINDOW_FAILURES = 3
SPORADIC_RUN = 2
SPORADIC_SHARE = 0.10
SPORADIC_WINDOW_FAILURES = 2
#: Concentrated path: post-dispatch failures on it, targets they hit, share.
PATH_FAILURES = 3
PATH_TARGETS = 2
PATH_SHARE = 0.10

_US = 1_000_000
_WINDOW_US = int(WINDOW_S * _US)
# Entry kinds on a target's timeline.
_OTHER, _RESPONSE, _FAILED = 0, 1, 2
# Sort keys pack a target and a time into one int64: 2**42 µs is 50 days.
_TIME_BITS = 42
#: Paths counted in memory before their per-chunk counts are summed up.
_PATH_ROWS_KEPT = 262_144


def target_chosen(rows: pa.Table) -> pa.Array:
    """The load balancer picked a target (``target:port`` is not ``-``)."""
    return pc.fill_null(pc.not_equal(rows.column("target_ip"), ""), False)


def responded(rows: pa.Table) -> pa.Array:
    """The target sent a status line, whatever the code."""
    return pc.fill_null(pc.not_equal(rows.column("target_status_code"), "-"), False)


def failed(rows: pa.Table) -> pa.Array:
    """``causes.md``'s *failed*: a target was chosen, no status line, 502 or 504."""
    status = rows.column("elb_status_code")
    gateway = pc.or_(pc.equal(status, 502), pc.equal(status, 504))
    return pc.fill_null(
        pc.and_(pc.and_(target_chosen(rows), pc.invert(responded(rows))), gateway), False
    )


def connect_phase(rows: pa.Table) -> pa.Array:
    """Failed before the request was handed over (``request_processing_time`` -1)."""
    handed = pc.equal(rows.column("request_processing_time"), -1.0)
    return pc.fill_null(pc.and_(failed(rows), handed), False)


def post_dispatch(rows: pa.Table) -> pa.Array:
    """Failed after the request was sent (``request_processing_time`` >= 0)."""
    handed = pc.greater_equal(rows.column("request_processing_time"), 0.0)
    return pc.fill_null(pc.and_(failed(rows), handed), False)


def path(rows: pa.Table) -> pa.Array:
    """The request URL without its query string."""
    return pc.replace_substring_regex(rows.column("request_url"), r"\?.*", "", max_replacements=1)


def creation_us(rows: pa.Table) -> pa.Array:
    """``request_creation_time`` in µs since the epoch, ``time`` where it is missing.

    Older log formats end before it, and ``-`` stands for none.
    """
    created = rows.column("request_creation_time")
    try:
        return _us(created)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        usable = pc.fill_null(pc.match_substring_regex(created, r"^\d{4}-\d\d-\d\dT.*Z$"), False)
        return _us(pc.if_else(usable, created, rows.column("time")))


def time_us(rows: pa.Table) -> pa.Array:
    """``time`` (already validated by the parser) in µs since the epoch."""
    return _us(rows.column("time"))


def _us(times: pa.Array | pa.ChunkedArray) -> pa.Array:
    stamps = pc.cast(times, pa.timestamp("us", tz="UTC"))
    return _array(pc.cast(stamps, pa.int64()))


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


@dataclass(frozen=True, slots=True)
class ChunkTimeline:
    """What one chunk adds to the object's timelines (built in a parse worker)."""

    #: Entries with a chosen target: target_ip (dictionary), target_port,
    #: created (µs), kind (other, response, failed), source_line.
    entries: pa.Table
    #: Entries per path (all entries).
    paths: pa.Table
    #: Path and target of each post-dispatch failure.
    dispatched: pa.Table
    #: The latest request creation time in the chunk (µs).
    last: int | None


def chunk_timeline(rows: pa.Table) -> ChunkTimeline:
    """Reduce one parsed chunk to its part of the object's timelines."""
    created = creation_us(rows)
    is_failed = failed(rows)
    kind = pc.if_else(is_failed, _FAILED, pc.if_else(responded(rows), _RESPONSE, _OTHER))
    entries = pa.table(
        {
            "target_ip": rows.column("target_ip"),
            "target_port": rows.column("target_port"),
            "created": created,
            "kind": pc.cast(kind, pa.int8()),
            "source_line": rows.column("source_line"),
        }
    )
    chosen = target_chosen(rows)
    if not pc.all(chosen).as_py():
        entries = entries.filter(chosen)
    encoded = pc.dictionary_encode(entries.column("target_ip"))
    entries = entries.set_column(0, "target_ip", encoded)
    paths = path(rows)
    counts = pa.table({"path": paths}).group_by("path").aggregate([([], "count_all")])
    dispatched_mask = post_dispatch(rows)
    dispatched = pa.table(
        {
            "path": paths,
            "target_ip": rows.column("target_ip"),
            "target_port": rows.column("target_port"),
        }
    ).filter(dispatched_mask)
    last = pc.max(created).as_py()
    return ChunkTimeline(entries, counts, dispatched, last)


@dataclass(frozen=True)
class Evidence:
    """Per failed entry (by ``source_line``): what rules 4 and 5 read."""

    #: source_line, run, gap_before_s, gap_after_s, before, after, outage,
    #: sporadic, left_rotation, ever_responded.
    entries: pa.Table
    #: Concentrated paths (URL without query string).
    concentrated_paths: pa.Array


@dataclass
class ObjectTimeline:
    """The timelines of one object's targets, gathered chunk by chunk."""

    _entries: list[pa.Table] = field(default_factory=list)
    _paths: list[pa.Table] = field(default_factory=list)
    _path_rows: int = 0
    _dispatched: list[pa.Table] = field(default_factory=list)
    last: int | None = None

    def add(self, part: ChunkTimeline) -> None:
        """Fold in one chunk's part."""
        if part.entries.num_rows:
            self._entries.append(part.entries)
        self._paths.append(part.paths)
        self._path_rows += part.paths.num_rows
        if self._path_rows > _PATH_ROWS_KEPT:
            self._paths = [_sum_paths(self._paths)]
            self._path_rows = self._paths[0].num_rows
        if part.dispatched.num_rows:
            self._dispatched.append(part.dispatched)
        if part.last is not None and (self.last is None or part.last > self.last):
            self.last = part.last

    def evidence(self) -> Evidence:
        """Per failed entry, its run, gaps, window share and target facts."""
        return Evidence(self._entry_evidence(), self._concentrated_paths())

    def _entry_evidence(self) -> pa.Table:
        if not self._entries:
            return _EMPTY_EVIDENCE
        entries = pa.concat_tables(self._entries).unify_dictionaries().combine_chunks()
        self._entries.clear()
        ip = entries.column("target_ip").chunk(0)
        port = pc.fill_null(pc.cast(entries.column("target_port"), pa.int64()), 0)
        target = pc.add(pc.multiply(pc.cast(ip.indices, pa.int64()), 1 << 16), port)
        is_failed = pc.equal(entries.column("kind"), _FAILED)
        failing = pc.unique(target.filter(is_failed))
        if len(failing) == 0:
            return _EMPTY_EVIDENCE
        # Only the targets that failed somewhere need their timelines.
        keep = pc.is_in(target, failing)
        timeline = pa.table(
            {
                "tid": pc.index_in(target, failing),
                "created": entries.column("created"),
                "kind": entries.column("kind"),
                "source_line": entries.column("source_line"),
            }
        ).filter(keep)
        timeline = timeline.sort_by(
            [("tid", "ascending"), ("created", "ascending"), ("source_line", "ascending")]
        ).combine_chunks()
        return _evidence(timeline, self.last)

    def _concentrated_paths(self) -> pa.Array:
        if not self._dispatched:
            return pa.array([], pa.string())
        dispatched = pa.concat_tables(self._dispatched)
        port = pc.cast(pc.fill_null(dispatched.column("target_port"), 0), pa.string())
        target = pc.binary_join_element_wise(dispatched.column("target_ip"), port, ":")
        per_path = (
            pa.table({"path": dispatched.column("path"), "target": target})
            .group_by("path")
            .aggregate([("target", "count"), ("target", "count_distinct")])
        )
        candidates = per_path.filter(
            pc.and_(
                pc.greater_equal(per_path.column("target_count"), PATH_FAILURES),
                pc.greater_equal(per_path.column("target_count_distinct"), PATH_TARGETS),
            )
        )
        if candidates.num_rows == 0:
            return pa.array([], pa.string())
        totals = _sum_paths(
            [
                part.filter(pc.is_in(part.column("path"), candidates.column("path")))
                for part in self._paths
            ]
        )
        index = pc.index_in(candidates.column("path"), totals.column("path"))
        total = pc.take(totals.column("count_all"), index)
        share = pc.divide(pc.cast(candidates.column("target_count"), pa.float64()), total)
        return _array(candidates.column("path").filter(pc.greater_equal(share, PATH_SHARE)))


def _sum_paths(parts: list[pa.Table]) -> pa.Table:
    return (
        pa.concat_tables(parts)
        .group_by("path")
        .aggregate([("count_all", "sum")])
        .rename_columns(["path", "count_all"])
    )


_EMPTY_EVIDENCE = pa.schema(
    [
        ("source_line", pa.int64()),
        ("run", pa.int32()),
        ("gap_before_s", pa.float64()),
        ("gap_after_s", pa.float64()),
        ("before", pa.bool_()),
        ("after", pa.bool_()),
        ("outage", pa.bool_()),
        ("sporadic", pa.bool_()),
        ("left_rotation", pa.bool_()),
        ("ever_responded", pa.bool_()),
    ]
).empty_table()


def _evidence(timeline: pa.Table, object_last: int | None) -> pa.Table:
    """The evidence of every failed entry of ``timeline`` (sorted by target, time)."""
    tid = timeline.column("tid").chunk(0)
    created = timeline.column("created").chunk(0)
    kind = timeline.column("kind").chunk(0)
    is_response = pc.equal(kind, _RESPONSE)
    is_failed = pc.equal(kind, _FAILED)

    # Gaps: the nearest response of the same target before and after.
    gap_before, before = _nearest_response(tid, created, is_response, forward=True)
    gap_after, after = _nearest_response(tid, created, is_response, forward=False)

    # Runs: failures with no response of the same target in between.
    responses_so_far = pc.cumulative_sum(pc.cast(is_response, pa.int64()))
    run_key = pc.add(pc.multiply(pc.cast(tid, pa.int64()), 1 << 32), responses_so_far)
    failed_keys = run_key.filter(is_failed)
    runs = pc.value_counts(failed_keys)
    run = pc.take(runs.field("counts"), pc.index_in(failed_keys, runs.field("values")))

    # Window: entries and failures of the same target within +-WINDOW_S.
    window_all, window_failed = _window_counts(tid, created, is_failed)
    share = pc.divide(pc.cast(window_failed, pa.float64()), pc.cast(window_all, pa.float64()))
    outage = pc.or_(
        pc.greater_equal(run, OUTAGE_RUN),
        pc.and_(
            pc.greater_equal(share, OUTAGE_SHARE),
            pc.greater_equal(window_failed, OUTAGE_WINDOW_FAILURES),
        ),
    )
    sporadic = pc.and_(
        pc.less_equal(run, SPORADIC_RUN),
        pc.or_(
            pc.less_equal(share, SPORADIC_SHARE),
            pc.less_equal(window_failed, SPORADIC_WINDOW_FAILURES),
        ),
    )

    # Per target: its last entry, and whether it ever responded.
    per_target = (
        pa.table({"tid": tid, "created": created, "response": pc.cast(is_response, pa.int64())})
        .group_by("tid")
        .aggregate([("created", "max"), ("response", "sum")])
        .sort_by("tid")
    )
    failed_tid = tid.filter(is_failed)
    target_last = pc.take(per_target.column("created_max"), failed_tid)
    ever_responded = pc.greater(pc.take(per_target.column("response_sum"), failed_tid), 0)
    last = object_last if object_last is not None else pc.max(created).as_py()
    left_rotation = pc.greater(pc.subtract(last, target_last), _WINDOW_US)

    return pa.table(
        {
            "source_line": timeline.column("source_line").chunk(0).filter(is_failed),
            "run": pc.cast(run, pa.int32()),
            "gap_before_s": gap_before.filter(is_failed),
            "gap_after_s": gap_after.filter(is_failed),
            "before": before.filter(is_failed),
            "after": after.filter(is_failed),
            "outage": outage,
            "sporadic": sporadic,
            "left_rotation": _array(left_rotation),
            "ever_responded": _array(ever_responded),
        },
        schema=_EMPTY_EVIDENCE.schema,
    )


def _nearest_response(
    tid: pa.Array, created: pa.Array, is_response: pa.Array, *, forward: bool
) -> tuple[pa.Array, pa.Array]:
    """Seconds to the same target's previous (``forward``) or next response, and whether any."""
    fill = pc.fill_null_forward if forward else pc.fill_null_backward
    null_time = pa.scalar(None, pa.int64())
    response_time = fill(pc.if_else(is_response, created, null_time))
    response_tid = fill(pc.if_else(is_response, tid, pa.scalar(None, tid.type)))
    same = pc.fill_null(pc.equal(response_tid, tid), False)
    delta = pc.subtract(created, response_time) if forward else pc.subtract(response_time, created)
    seconds = pc.divide(pc.cast(delta, pa.float64()), float(_US))
    return pc.if_else(same, seconds, pa.scalar(None, pa.float64())), same


def _window_counts(
    tid: pa.Array, created: pa.Array, is_failed: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """Entries and failures of the same target within +-WINDOW_S of each failure.

    A sorted merge: each failure adds a query just below and just above its
    window to the (already sorted) timeline; running sums at the queries give
    the counts, without a per-entry loop.
    """
    origin = pc.min(created).as_py()
    span = (1 << (_TIME_BITS - 1)) - 1
    offset = pc.min_element_wise(pc.add(pc.subtract(created, origin), _WINDOW_US), span)
    key = pc.add(pc.multiply(pc.cast(tid, pa.int64()), 1 << _TIME_BITS), offset)
    failed_key = key.filter(is_failed)
    n, f = len(key), len(failed_key)
    query = pa.array(range(f), pa.int64())
    events = (
        pa.table(
            {
                "key": pa.concat_arrays(
                    [key, pc.subtract(failed_key, _WINDOW_US), pc.add(failed_key, _WINDOW_US)]
                ),
                # Low bounds sort before entries at the same key, high bounds after.
                "order": pa.concat_arrays(
                    [
                        pa.repeat(pa.scalar(1, pa.int8()), n),
                        pa.repeat(pa.scalar(0, pa.int8()), f),
                        pa.repeat(pa.scalar(2, pa.int8()), f),
                    ]
                ),
                "entry": pa.concat_arrays(
                    [
                        pa.repeat(pa.scalar(1, pa.int64()), n),
                        pa.repeat(pa.scalar(0, pa.int64()), 2 * f),
                    ]
                ),
                "failure": pa.concat_arrays(
                    [pc.cast(is_failed, pa.int64()), pa.repeat(pa.scalar(0, pa.int64()), 2 * f)]
                ),
                "query": pa.concat_arrays([pa.nulls(n, pa.int64()), query, query]),
            }
        )
        .sort_by([("key", "ascending"), ("order", "ascending")])
        .combine_chunks()
    )
    entries_so_far = pc.cumulative_sum(events.column("entry").chunk(0))
    failures_so_far = pc.cumulative_sum(events.column("failure").chunk(0))
    order = events.column("order").chunk(0)
    queries = events.column("query").chunk(0)

    def at(bound: int, running: pa.Array) -> pa.Array:
        mask = pc.equal(order, bound)
        ids = queries.filter(mask)
        return pc.take(running.filter(mask), pc.sort_indices(ids))

    window_all = pc.subtract(at(2, entries_so_far), at(0, entries_so_far))
    window_failed = pc.subtract(at(2, failures_so_far), at(0, failures_so_far))
    return window_all, window_failed
