"""One input object through every stage: read, parse, classify, write, measure.

``process_object`` is what both adapters call: the command line for local
files and S3 prefixes, the Lambda handler for each S3 notification.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from alb502 import layout
from alb502.classifier import TargetActivity, classify, is_502
from alb502.errors import Deadline
from alb502.measure import Measure, MinuteCounts
from alb502.parser import parse_chunk
from alb502.reader import parse_s3_uri, read_chunks
from alb502.writer import ObjectOutput


@dataclass
class ObjectReport:
    """What processing one object did."""

    source: str
    lines: int = 0
    rows: int = 0
    rejects: int = 0
    #: 502s by cause.
    causes: Counter[str] = field(default_factory=Counter)
    #: Lake files written (paths or ``s3://`` URIs).
    outputs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: End of the 5-minute interval the object covers, from its name.
    interval_end: datetime | None = None
    #: Per load balancer and minute: what the metrics count.
    minutes: list[MinuteCounts] = field(default_factory=list)
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
    :class:`~alb502.errors.Deadline` when ``should_stop()`` turns true; in
    both cases nothing is written.
    """
    started = time.perf_counter()
    key = parse_s3_uri(source).key if source.startswith("s3://") else source
    report = ObjectReport(source=source, interval_end=layout.interval_end(key))
    output = ObjectOutput(lake, layout.stem(key), key, client=s3_client)
    activity = TargetActivity()
    measure = Measure()
    held_502: list[pa.Table] = []
    rejects: list[pa.Table] = []
    first_day: str | None = None
    try:
        for chunk in read_chunks(source, client=s3_client):
            if should_stop is not None and should_stop():
                raise Deadline(f"{source}: stopped at line {chunk.first_line}, time ran out")
            parsed = parse_chunk(chunk)
            rows = parsed.rows
            report.lines += chunk.lines
            report.bytes += len(chunk.data)
            report.rows += rows.num_rows
            activity.add(rows)
            measure.add_requests(rows)
            if first_day is None and rows.num_rows:
                first_day = rows.column("time")[0].as_py()[:10]
            # 502s wait for the end of the object: the keep-alive rule needs
            # to know whether their target answered later on.
            mask = is_502(rows)
            if pc.any(mask).as_py():
                held_502.append(rows.filter(mask))
                rows = rows.filter(pc.invert(mask))
            output.add_rows(rows)
            if parsed.rejects.num_rows:
                rejects.append(parsed.rejects)
        if held_502:
            tagged = classify(pa.concat_tables(held_502), activity)
            output.add_rows(tagged)
            measure.add_causes(tagged)
            report.causes.update(tagged.column("cause").to_pylist())
        if rejects:
            table = pa.concat_tables(rejects)
            report.rejects = table.num_rows
            output.add_rejects(table, _rejects_day(report.interval_end, first_day))
        report.outputs = output.commit()
    except BaseException:
        output.abort()
        raise
    report.minutes = measure.minutes()
    report.seconds = time.perf_counter() - started
    return report


def _rejects_day(interval_end: datetime | None, first_day: str | None) -> str:
    """Rejected lines have no trusted time: file them under the object's day."""
    if interval_end is not None:
        return interval_end.strftime("%Y-%m-%d")
    if first_day is not None:
        return first_day
    return datetime.now(UTC).strftime("%Y-%m-%d")
