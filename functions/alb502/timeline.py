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

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from alb502.parser import utc_timestamp

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
# Entry kinds on a target's timeline (none: no target was chosen).
_OTHER, _RESPONSE, _FAILED, _NONE = 0, 1, 2, 3
# Sort keys pack a target number and a time into one int64 with room for
# the window's markers (x3): 61 bits, the time taking what the targets leave.
_KEY_BITS = 61
#: Entries whose timelines are worked on at once at the end of an object.
_GROUP_ROWS = 262_144
#: URL counts kept in memory before they are staged on disk.
_URL_ROWS_KEPT = 131_072


def target_chosen(rows: pa.Table) -> pa.Array:
    """The load balancer picked a target (``target:port`` is not ``-``)."""
    return pc.fill_null(pc.not_equal(rows.column("target_ip"), ""), False)


def responded(rows: pa.Table) -> pa.Array:
    """The target sent a status line, whatever the code."""
    return pc.fill_null(pc.not_equal(rows.column("target_status_code"), "-"), False)


def failed(rows: pa.Table) -> pa.Array:
    """``causes.md``'s *failed*: a target was chosen, no status line, 502 or 504."""
    return _failed(rows, target_chosen(rows), responded(rows))


def _failed(rows: pa.Table, chosen: pa.Array, answered: pa.Array) -> pa.Array:
    status = rows.column("elb_status_code")
    gateway = pc.or_(pc.equal(status, 502), pc.equal(status, 504))
    return pc.fill_null(pc.and_(pc.and_(chosen, pc.invert(answered)), gateway), False)


def connect_phase(rows: pa.Table) -> pa.Array:
    """Failed before the request was handed over (``request_processing_time`` -1)."""
    handed = pc.equal(rows.column("request_processing_time"), -1.0)
    return pc.fill_null(pc.and_(failed(rows), handed), False)


def post_dispatch(rows: pa.Table) -> pa.Array:
    """Failed after the request was sent (``request_processing_time`` >= 0)."""
    return _post_dispatch(rows, failed(rows))


def _post_dispatch(rows: pa.Table, is_failed: pa.Array) -> pa.Array:
    handed = pc.greater_equal(rows.column("request_processing_time"), 0.0)
    return pc.fill_null(pc.and_(is_failed, handed), False)


def path(rows: pa.Table) -> pa.Array:
    """The request URL without its query string."""
    return _cut_query(rows.column("request_url"))


def _cut_query(urls: pa.Array | pa.ChunkedArray) -> pa.Array:
    """URLs up to their first ``?``."""
    if len(urls) == 0:
        return pa.array([], pa.string())
    return _array(pc.list_element(pc.split_pattern(urls, "?", max_splits=1), 0))


def creation_us(rows: pa.Table) -> pa.Array:
    """``request_creation_time`` in µs since the epoch, ``time`` where it is unusable.

    Older log formats end before it, ``-`` stands for none, and a damaged
    line can hold anything: such values fall back to ``time`` (which the
    parser validated), never an error.
    """
    created = rows.column("request_creation_time")
    try:
        parsed = _us(created)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Rare (a chunk with a damaged value): the parser's tolerant reading.
        parsed = _array(pc.cast(utc_timestamp(_array(created)), pa.int64()))
    if parsed.null_count == 0:
        return parsed
    return _array(pc.if_else(pc.is_valid(parsed), parsed, time_us(rows)))


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

    #: Every entry: target_ip (dictionary), target_port, created (µs), kind
    #: (none, other, response, failed), source_line. No row is copied: the
    #: columns are the parsed chunk's, or new narrow ones.
    entries: pa.Table
    #: Entries per request URL (with its query string).
    urls: pa.Table
    #: Path and target of each post-dispatch failure.
    dispatched: pa.Table
    #: The latest request creation time in the chunk (µs).
    last: int | None


def chunk_timeline(rows: pa.Table) -> ChunkTimeline:
    """Reduce one parsed chunk to its part of the object's timelines."""
    created = creation_us(rows)
    chosen, answered = target_chosen(rows), responded(rows)
    is_failed = _failed(rows, chosen, answered)
    kind = pc.if_else(
        chosen, pc.if_else(is_failed, _FAILED, pc.if_else(answered, _RESPONSE, _OTHER)), _NONE
    )
    entries = pa.table(
        {
            "target_ip": pc.dictionary_encode(rows.column("target_ip")),
            "target_port": rows.column("target_port"),
            "created": created,
            "kind": pc.cast(kind, pa.int8()),
            "source_line": rows.column("source_line"),
        }
    )
    # value_counts is ~10x cheaper than a group-by here; the query string
    # is cut off later, on the few URLs of the paths that matter.
    counted = pc.value_counts(rows.column("request_url"))
    urls = pa.table({"url": counted.field("values"), "count": counted.field("counts")})
    dispatched = rows.select(["request_url", "target_ip", "target_port"]).filter(
        _post_dispatch(rows, is_failed)
    )
    dispatched = pa.table(
        {
            "path": path(dispatched),
            "target_ip": dispatched.column("target_ip"),
            "target_port": dispatched.column("target_port"),
        }
    )
    return ChunkTimeline(entries, urls, dispatched, pc.max(created).as_py())


@dataclass
class Evidence:
    """Per failed entry (by ``source_line``): what rules 4 and 5 read."""

    #: source_line, run, gap_before_s, gap_after_s (null: no response that
    #: way), outage,
    #: sporadic, left_rotation, ever_responded.
    entries: pa.Table
    #: Concentrated paths (URL without query string).
    concentrated_paths: pa.Array
    _by_line: pa.Array | None = None
    _lines: pa.Array | None = None

    def for_lines(self, lines: pa.Array | pa.ChunkedArray) -> pa.Table:
        """The evidence rows within the line range of ``lines`` (a held block).

        Looking lines up in that range costs the block's size, not the
        object's: ``_by_line`` orders ``entries`` by line once.
        """
        if len(lines) == 0 or self.entries.num_rows == 0:
            return self.entries
        if self._by_line is None:
            self._by_line = pc.sort_indices(self.entries.column("source_line"))
            self._lines = pc.take(self.entries.column("source_line"), self._by_line)
        start = pc.sum(pc.less(self._lines, pc.min(lines))).as_py() or 0
        stop = pc.sum(pc.less_equal(self._lines, pc.max(lines))).as_py() or 0
        return self.entries.take(self._by_line.slice(start, stop - start))


class ObjectTimeline:
    """The timelines of one object's targets, gathered chunk by chunk.

    URL counts are nearly one row per entry on real traffic (ids in paths
    and queries): beyond ``_URL_ROWS_KEPT`` they go to a staged lz4 file,
    read back only when some path fails on several targets. :meth:`close`
    removes it.
    """

    def __init__(self) -> None:
        self._entries: list[pa.Table] = []
        self._urls: list[pa.Table] = []
        self._url_rows = 0
        self._spill_dir: str | None = None
        self._spill: pa.ipc.RecordBatchStreamWriter | None = None
        self._spill_sink: pa.NativeFile | None = None
        self._dispatched: list[pa.Table] = []
        self.last: int | None = None

    def add(self, part: ChunkTimeline) -> None:
        """Fold in one chunk's part."""
        if part.entries.num_rows:
            self._entries.append(part.entries)
        self._urls.append(part.urls)
        self._url_rows += part.urls.num_rows
        if self._url_rows >= _URL_ROWS_KEPT:
            self._spill_urls()
        if part.dispatched.num_rows:
            self._dispatched.append(part.dispatched)
        if part.last is not None and (self.last is None or part.last > self.last):
            self.last = part.last

    def _spill_urls(self) -> None:
        # Arrow IPC, lz4: written and read back at memory speed (a Parquet
        # file spent 10x longer trying dictionaries on unique URLs).
        urls = pa.concat_tables(self._urls)
        if self._spill is None:
            self._spill_dir = tempfile.mkdtemp(prefix="alb502-urls-")
            sink = pa.OSFile(os.path.join(self._spill_dir, "urls.arrow"), "wb")
            options = pa.ipc.IpcWriteOptions(compression="lz4")
            self._spill = pa.ipc.new_stream(sink, urls.schema, options=options)
            self._spill_sink = sink
        self._spill.write_table(urls)
        self._urls.clear()
        self._url_rows = 0

    def _all_urls(self) -> Iterator[pa.Table]:
        if self._spill is not None and self._spill_sink is not None and self._spill_dir:
            self._spill.close()
            self._spill_sink.close()
            self._spill = self._spill_sink = None
            path = os.path.join(self._spill_dir, "urls.arrow")
            with pa.OSFile(path, "rb") as source, pa.ipc.open_stream(source) as spilled:
                for batch in spilled:
                    yield pa.Table.from_batches([batch])
        yield from self._urls

    def close(self) -> None:
        """Remove what was staged on disk."""
        if self._spill is not None:
            with contextlib.suppress(Exception):
                self._spill.close()
            self._spill = None
        if self._spill_sink is not None:
            with contextlib.suppress(Exception):
                self._spill_sink.close()
            self._spill_sink = None
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None

    def evidence(self) -> Evidence:
        """Per failed entry, its run, gaps, window share and target facts."""
        try:
            return Evidence(self._entry_evidence(), self._concentrated_paths())
        finally:
            self.close()

    def _entry_evidence(self) -> pa.Table:
        if not self._entries:
            return _EMPTY_EVIDENCE
        # One dictionary for target_ip across chunks, without copying the rows.
        chunks = pa.concat_tables(self._entries).unify_dictionaries().to_batches()
        self._entries.clear()
        targets = [_target_numbers(batch) for batch in chunks]
        failing = pc.unique(
            pa.chunked_array(
                [
                    t.filter(pc.equal(b.column("kind"), _FAILED))
                    for t, b in zip(targets, chunks, strict=True)
                ],
                pa.int64(),
            )
        )
        if len(failing) == 0:
            return _EMPTY_EVIDENCE
        # (A span beyond 2**40 µs, 12 days, is clipped: not one object's.)
        time_bits = min(_KEY_BITS - len(failing).bit_length(), 41)
        # (Empty batches have no minimum; some entry failed, so one batch has.)
        earliest = [pc.min(b.column("created")).as_py() for b in chunks if b.num_rows]
        origin = min(t for t in earliest if t is not None) - _WINDOW_US
        last = None if self.last is None else self.last - origin
        # Only the timelines of targets that failed somewhere are read, a
        # group of targets at a time: memory follows the group, not the object.
        parts = [
            _evidence(*_group_timeline(chunks, targets, group, origin, time_bits), last, time_bits)
            for group in _target_groups(chunks, targets, failing)
        ]
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]

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
        wanted = candidates.column("path")
        parts = []
        for urls in self._all_urls():
            url, count = urls.column("url"), urls.column("count")
            # Most URLs have no query string: they are their own path. Only
            # the others are cut (a regex per URL cost 0.7 s per 800k URLs).
            queried = pc.match_substring(url, "?")
            bare = pc.invert(queried)
            paths = pa.concat_arrays([_array(url.filter(bare)), _cut_query(url.filter(queried))])
            counts = pa.concat_arrays([_array(count.filter(bare)), _array(count.filter(queried))])
            keep = pc.is_in(paths, wanted)
            parts.append(pa.table({"path": paths.filter(keep), "count": counts.filter(keep)}))
        totals = pa.concat_tables(parts).group_by("path").aggregate([("count", "sum")])
        index = pc.index_in(wanted, totals.column("path"))
        total = pc.take(totals.column("count_sum"), index)
        share = pc.divide(pc.cast(candidates.column("target_count"), pa.float64()), total)
        return _array(wanted.filter(pc.greater_equal(share, PATH_SHARE)))


_EMPTY_EVIDENCE = pa.schema(
    [
        ("source_line", pa.int64()),
        ("run", pa.int32()),
        ("gap_before_s", pa.float64()),
        ("gap_after_s", pa.float64()),
        ("outage", pa.bool_()),
        ("sporadic", pa.bool_()),
        ("left_rotation", pa.bool_()),
        ("ever_responded", pa.bool_()),
    ]
).empty_table()


def _target_numbers(batch: pa.RecordBatch) -> pa.Array:
    """One int64 per entry for its target: ip's dictionary index and port."""
    ip = pc.cast(batch.column("target_ip").indices, pa.int64())
    port = pc.fill_null(pc.cast(batch.column("target_port"), pa.int64()), 0)
    return pc.add(pc.multiply(ip, 1 << 16), port)


def _target_groups(
    chunks: list[pa.RecordBatch], targets: list[pa.Array], failing: pa.Array
) -> list[pa.Array]:
    """The failing targets in groups of about ``_GROUP_ROWS`` entries (a bigger
    target is a group of its own), each group given as its targets' numbers."""
    entries = pa.chunked_array(
        [
            t.filter(pc.not_equal(b.column("kind"), _NONE))
            for t, b in zip(targets, chunks, strict=True)
        ],
        pa.int64(),
    )
    counts = pc.value_counts(entries.filter(pc.is_in(entries, failing)))
    groups: list[list[int]] = [[]]
    rows = 0
    for target, count in zip(
        counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
    ):
        if rows and rows + count > _GROUP_ROWS:
            groups.append([])
            rows = 0
        groups[-1].append(target)
        rows += count
    return [pa.array(group, pa.int64()) for group in groups if group]


def _group_timeline(
    chunks: list[pa.RecordBatch],
    targets: list[pa.Array],
    group: pa.Array,
    origin: int,
    time_bits: int,
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """The group's entries sorted by target, then time: sort key, kind, line."""
    keys, kinds, lines = [], [], []
    for batch, target in zip(chunks, targets, strict=True):
        keep = pc.and_(pc.not_equal(batch.column("kind"), _NONE), pc.is_in(target, group))
        tid = pc.index_in(target.filter(keep), group)
        offset = pc.min_element_wise(
            pc.subtract(batch.column("created").filter(keep), origin),
            (1 << time_bits) - 1 - _WINDOW_US,
        )
        # One int64 per entry orders by target, then time: a single-key sort.
        keys.append(pc.add(pc.shift_left(pc.cast(tid, pa.int64()), time_bits), offset))
        kinds.append(batch.column("kind").filter(keep))
        lines.append(batch.column("source_line").filter(keep))
    key = pa.concat_arrays(keys)
    order = pc.sort_indices(key)  # stable: ties keep line order
    return (
        pc.take(key, order),
        pc.take(pa.concat_arrays(kinds), order),
        pc.take(pa.concat_arrays(lines), order),
    )


def _evidence(
    key: pa.Array, kind: pa.Array, line: pa.Array, last: int | None, time_bits: int
) -> pa.Table:
    """The evidence of every failed entry of a timeline sorted by ``key``.

    ``key`` is the target's number above ``time_bits``, and the request
    creation time in µs (from an origin) below; ``last`` is the object's
    last entry on the same scale.
    """
    tid = pc.shift_right(key, time_bits)
    created = pc.bit_wise_and(key, (1 << time_bits) - 1)
    is_response = pc.equal(kind, _RESPONSE)
    is_failed = pc.equal(kind, _FAILED)

    # Gaps: the nearest response of the same target before and after.
    gap_before = _nearest_response(tid, created, is_response, forward=True)
    gap_after = _nearest_response(tid, created, is_response, forward=False)

    # Runs: failures with no response of the same target in between.
    responses_so_far = pc.cumulative_sum(pc.cast(is_response, pa.int64()))
    run_key = pc.add(pc.shift_left(tid, 32), responses_so_far)
    failed_keys = run_key.filter(is_failed)
    runs = pc.value_counts(failed_keys)
    run = pc.take(runs.field("counts"), pc.index_in(failed_keys, runs.field("values")))

    # Window: entries and failures of the same target within +-WINDOW_S. A
    # run of 3 or more is an outage whatever the window says: only the
    # failures of shorter runs need it (few, even in an outage object).
    short = pc.less(run, OUTAGE_RUN)
    failed_key = key.filter(is_failed)
    centers = failed_key.filter(short)
    none = pa.nulls(len(failed_key), pa.int64())
    window_all = pc.replace_with_mask(none, short, _in_window(key, centers))
    window_failed = pc.replace_with_mask(none, short, _in_window(failed_key, centers))
    share = pc.divide(pc.cast(window_failed, pa.float64()), pc.cast(window_all, pa.float64()))
    outage = pc.or_(
        pc.invert(short),
        pc.fill_null(
            pc.and_(
                pc.greater_equal(share, OUTAGE_SHARE),
                pc.greater_equal(window_failed, OUTAGE_WINDOW_FAILURES),
            ),
            False,
        ),
    )
    sporadic = pc.and_(
        pc.less_equal(run, SPORADIC_RUN),
        pc.fill_null(
            pc.or_(
                pc.less_equal(share, SPORADIC_SHARE),
                pc.less_equal(window_failed, SPORADIC_WINDOW_FAILURES),
            ),
            False,
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
    if last is None:
        last = pc.max(created).as_py()
    left_rotation = pc.greater(pc.subtract(last, target_last), _WINDOW_US)

    return pa.table(
        {
            "source_line": line.filter(is_failed),
            "run": pc.cast(run, pa.int32()),
            "gap_before_s": gap_before.filter(is_failed),
            "gap_after_s": gap_after.filter(is_failed),
            "outage": outage,
            "sporadic": sporadic,
            "left_rotation": _array(left_rotation),
            "ever_responded": _array(ever_responded),
        },
        schema=_EMPTY_EVIDENCE.schema,
    )


def _nearest_response(
    tid: pa.Array, created: pa.Array, is_response: pa.Array, *, forward: bool
) -> pa.Array:
    """Seconds to the same target's previous (``forward``) or next response; null if none."""
    fill = pc.fill_null_forward if forward else pc.fill_null_backward
    null_time = pa.scalar(None, pa.int64())
    response_time = fill(pc.if_else(is_response, created, null_time))
    response_tid = fill(pc.if_else(is_response, tid, pa.scalar(None, tid.type)))
    same = pc.fill_null(pc.equal(response_tid, tid), False)
    delta = pc.subtract(created, response_time) if forward else pc.subtract(response_time, created)
    seconds = pc.divide(pc.cast(delta, pa.float64()), float(_US))
    return pc.if_else(same, seconds, pa.scalar(None, pa.float64()))


def _in_window(keys: pa.Array, centers: pa.Array) -> pa.Array:
    """For each of the sorted ``centers``, how many sorted ``keys`` lie within
    +-WINDOW_S of it (the same target: the target is in the key's high bits).

    A sorted merge instead of a per-entry loop: each center adds a marker
    just below and one just above its window (one int64 sort key: key * 3,
    plus 0 for a low marker, 1 for an entry, 2 for a high marker). A
    marker's place in the merged order minus the markers before it is the
    number of keys below it.
    """
    n, f = len(keys), len(centers)
    if f == 0:
        return pa.array([], pa.int64())
    low = pc.multiply(pc.subtract(centers, _WINDOW_US), 3)
    high = pc.add(pc.multiply(pc.add(centers, _WINDOW_US), 3), 2)
    merged = pa.concat_arrays([pc.add(pc.multiply(keys, 3), 1), low, high])
    order = pc.sort_indices(merged)
    del merged
    is_marker = pc.greater_equal(order, n)
    place = pc.indices_nonzero(is_marker)
    markers_before = pa.array(range(2 * f), pa.uint64())
    keys_below = pc.subtract(place, markers_before)
    # Back in marker order: center i's low marker is n + i, its high n + f + i.
    below = pc.take(keys_below, pc.sort_indices(order.filter(is_marker)))
    return pc.cast(pc.subtract(below[f:], below[:f]), pa.int64())
