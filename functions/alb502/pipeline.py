"""One input object through every stage: read, parse, classify, write, measure.

``process_object`` is what both adapters call: the command line for local
files and S3 prefixes, the Lambda handler for each S3 notification.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from alb502 import cpu, layout, memory
from alb502.classifier import settle, tag
from alb502.errors import Deadline
from alb502.measure import Measure, MinuteCounts
from alb502.parser import EARLIEST_TIME, LATEST_AHEAD, parse_chunk
from alb502.reader import CHUNK_SIZE, Chunk, parse_s3_uri, read_chunks
from alb502.timeline import ChunkTimeline, ObjectTimeline, chunk_timeline
from alb502.writer import ObjectOutput

#: Parse workers, and chunks prepared ahead of the one being written.
_WORKERS = 2
_AHEAD = 2
#: Bytes per chunk on one core, where one chunk is in flight rather than
#: ``_WORKERS + _AHEAD``: fewer, bigger chunks cut the per-call cost of the
#: compute kernels (12 MiB: 10 % less CPU than 8 MiB on the 1M-line bench
#: object, for 30 MB more at the peak; 16 MiB saved no more and took
#: 413 MB on a 1M-line object of failures).
_ALONE_CHUNK_SIZE = 3 * CHUNK_SIZE // 2


@dataclass
class ObjectReport:
    """What processing one object did."""

    source: str
    lines: int = 0
    rows: int = 0
    rejects: int = 0
    #: 502s by cause.
    causes: Counter[str] = field(default_factory=Counter)
    #: The load balancer's other 5xx (500, 503, 504, 561...) by cause.
    other_5xx: Counter[str] = field(default_factory=Counter)
    #: Lake files written (paths or ``s3://`` URIs).
    outputs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: End of the 5-minute interval the object covers, from its name.
    interval_end: datetime | None = None
    #: Per load balancer and minute: what the metrics count.
    minutes: list[MinuteCounts] = field(default_factory=list)
    #: Entries in no minute of ``minutes`` (``measure.MAX_MINUTES``: a damaged object).
    untracked: int = 0
    #: 502s the load balancer made, and 502s its targets answered, over the object.
    elb_502: int = 0
    target_502: int = 0
    #: Bytes of log text read (uncompressed).
    bytes: int = 0


def process_object(
    source: str,
    lake: str,
    *,
    s3_client: Any = None,
    should_stop: Callable[[], bool] | None = None,
) -> ObjectReport:
    """Parse, tag and write one log object (local path or ``s3://bucket/key``).

    Raises :class:`~alb502.errors.InputError` when the object is unusable and
    :class:`~alb502.errors.Deadline` when ``should_stop()`` turns true; after
    any failure the lake holds what it held before for this object.
    """
    memory.tune()
    started = time.perf_counter()
    key = parse_s3_uri(source).key if source.startswith("s3://") else source
    report = ObjectReport(source=source, interval_end=layout.interval_end(key))
    threads = cpu.usable_cores() > 1
    output = ObjectOutput(lake, layout.stem(key), key, client=s3_client, encode_aside=threads)
    timeline = ObjectTimeline()
    measure = Measure()
    first_day: str | None = None
    try:
        # closing(): on any error the workers are stopped here, not whenever
        # the generator happens to be collected.
        with contextlib.closing(
            _prepare_ahead(
                read_chunks(
                    source,
                    client=s3_client,
                    should_stop=should_stop,
                    chunk_size=None if threads else _ALONE_CHUNK_SIZE,
                ),
                threads=threads,
            )
        ) as chunks:
            for prepared, ending in chunks:
                where = f"{source}: stopped at line {prepared.first_line}"
                _check(should_stop, f"{where}, time ran out")
                report.lines += prepared.lines
                report.bytes += prepared.bytes
                report.rows += prepared.rows.num_rows + prepared.held.num_rows
                timeline.add(prepared.timeline)
                measure.add(prepared.traffic, prepared.causes)
                first_day = first_day or prepared.first_day
                if ending:
                    # The object's last chunks: each is written on its own, so
                    # little is left to encode once the last one is parsed.
                    output.flush()
                output.add_rows(prepared.rows)
                output.hold(prepared.held)
                # Kept on disk until the object's day is known: memory stays flat.
                output.defer_rejects(prepared.rejects)
        # Rules 4 and 5 waited for each target's timeline in the whole object.
        evidence = timeline.evidence()
        for held in output.held():
            settled = settle(held, evidence)
            measure.add_causes(settled)
            output.add_rows(settled)
        report.rejects = output.file_rejects(_rejects_day(first_day, report.interval_end))
        _check(should_stop, f"{source}: stopped before writing, time ran out")
        report.outputs = output.commit(should_stop)
    except BaseException:
        output.abort()
        raise
    finally:
        timeline.close()
    report.minutes = measure.minutes()
    report.untracked = measure.untracked
    report.elb_502, report.target_502 = measure.total.elb_502, measure.total.target_502
    report.causes = measure.causes()
    report.other_5xx = measure.other_5xx_causes()
    report.seconds = time.perf_counter() - started
    return report


def _check(should_stop: Callable[[], bool] | None, message: str) -> None:
    if should_stop is not None and should_stop():
        raise Deadline(message)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One chunk after the per-chunk work: parsed, tagged, split, and summed up."""

    #: Tagged entries, ready to write.
    rows: pa.Table
    #: Entries whose cause waits for the whole object (rules 4 and 5).
    held: pa.Table
    rejects: pa.Table
    timeline: ChunkTimeline
    traffic: pa.Table
    causes: pa.Table
    first_day: str | None
    #: Where the chunk starts, its lines and bytes: the text itself is let go.
    first_line: int
    lines: int
    bytes: int


def _prepare(chunk: Chunk) -> _Prepared:
    """Everything about one chunk that does not need the other chunks."""
    parsed = parse_chunk(chunk)
    rows, pending = tag(parsed.rows)
    traffic, causes = Measure.count(rows)
    if pc.any(pending).as_py():
        held, rows = rows.filter(pending), rows.filter(pc.invert(pending))
    else:
        held = rows.schema.empty_table()
    return _Prepared(
        rows=rows,
        held=held,
        rejects=parsed.rejects,
        timeline=chunk_timeline(parsed.rows),
        traffic=traffic,
        causes=causes,
        first_day=parsed.rows.column("time")[0].as_py()[:10] if parsed.rows.num_rows else None,
        first_line=chunk.first_line,
        lines=chunk.lines,
        bytes=len(chunk.data),
    )


def _prepare_ahead(chunks: Iterator[Chunk], *, threads: bool) -> Generator[tuple[_Prepared, bool]]:
    """Prepare chunks in worker threads while the caller writes earlier ones.

    pyarrow's CSV reader, compute kernels and Parquet writer release the
    GIL, so decompressing and writing (this thread) overlap with parsing
    (``_WORKERS`` threads). At most ``_AHEAD`` chunks wait: memory stays flat.
    Each prepared chunk comes with whether it is one of the last, those
    submitted after the object was read to its end. Without ``threads``
    (one core: ``alb502.cpu``) each chunk is prepared here, in turn.
    """
    if not threads:
        prepared: _Prepared | None = None
        for chunk in chunks:
            if prepared is not None:
                yield prepared, False
            prepared = _prepare(chunk)
        if prepared is not None:
            yield prepared, True
        return
    with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="alb502-parse") as pool:
        # Only futures wait here: a chunk's text is let go once it is parsed.
        pending: deque[Future[_Prepared]] = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(_prepare, chunk))
                if len(pending) > _AHEAD:
                    yield pending.popleft().result(), False
            while pending:
                yield pending.popleft().result(), True
        finally:
            for future in pending:
                future.cancel()


def _rejects_day(first_day: str | None, interval_end: datetime | None) -> str:
    """Rejected lines have no trusted time: file them under the object's day.

    That is the day of its first entry (the parser keeps entries inside the
    ``day`` projection's range), else the day its 5-minute interval starts
    (from its name) when Athena's ``day`` projection offers it, else the
    day of processing. The first two are the same for the same object, so
    re-processing overwrites.
    """
    if first_day is not None:
        return first_day
    today = datetime.now(UTC).date()
    if interval_end is not None:
        day = (interval_end - timedelta(minutes=5)).date()
        if EARLIEST_TIME.date() <= day <= today + LATEST_AHEAD:
            return day.isoformat()
    return today.isoformat()
