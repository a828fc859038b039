"""Measure stage: per load balancer and minute, what the metrics count.

The handler turns these into CloudWatch metrics (``metrics``); counting here,
column-wise, keeps the Lambda path and the command line on the same numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

_MINUTE_MS = 60_000


def _minute(request_ts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``request_ts`` (ms, UTC) floored to the minute.

    Integer arithmetic: ``floor_temporal`` does the same through calendar
    and time-zone logic, 9x slower. The parser keeps times after 2015, so
    truncating division is flooring.
    """
    ms = pc.cast(request_ts, pa.int64())
    return pc.cast(pc.multiply(pc.divide(ms, _MINUTE_MS), _MINUTE_MS), request_ts.type)


@dataclass
class MinuteCounts:
    """Requests and tagged errors of one load balancer in one minute (UTC, floored)."""

    load_balancer: str
    minute: datetime
    requests: int = 0
    elb_502: int = 0
    target_502: int = 0
    #: 502s by cause.
    by_cause: Counter[str] = field(default_factory=Counter)
    #: The load balancer's own 5xx other than 502, by cause.
    other_5xx_by_cause: Counter[str] = field(default_factory=Counter)


#: (load balancer, minute) pairs counted one by one per object: two weeks of
#: minutes, CloudWatch's window for EMF timestamps. An ALB object spans a
#: few minutes; a damaged one can name a different minute on every line,
#: ~600 bytes each. Beyond it, entries count in the object's totals only.
MAX_MINUTES = 20_160


class Measure:
    """Accumulates :class:`MinuteCounts` over the chunks of one object."""

    def __init__(self) -> None:
        self._minutes: dict[tuple[str, datetime], MinuteCounts] = {}
        #: The whole object, every entry (``MAX_MINUTES`` does not apply).
        self.total = MinuteCounts("", datetime.min)
        #: Entries counted in ``total`` but in no minute (``MAX_MINUTES``).
        self.untracked = 0

    @staticmethod
    def count(rows: pa.Table) -> tuple[pa.Table, pa.Table]:
        """Per load balancer and minute: entries, 502s by source, tagged entries by cause.

        ``rows`` are tagged (``classifier.tag``); entries whose cause is still
        pending are counted by cause later, through :meth:`add_causes`. Pure
        and column-wise, so it runs in the parse workers.
        """
        # Tagged entries are 502s and the load balancer's other 5xx: count 502s only here.
        is502 = pc.equal(rows.column("elb_status_code"), 502)
        source = pc.if_else(is502, rows.column("error_source"), pa.scalar(None, pa.string()))
        minute = _minute(rows.column("request_ts"))
        traffic = (
            pa.table(
                {
                    "elb": rows.column("elb"),
                    "minute": minute,
                    "elb_502": pc.cast(pc.fill_null(pc.equal(source, "elb"), False), pa.int64()),
                    "target_502": pc.cast(
                        pc.fill_null(pc.equal(source, "target"), False), pa.int64()
                    ),
                }
            )
            .group_by(["elb", "minute"])
            .aggregate([("elb_502", "count"), ("elb_502", "sum"), ("target_502", "sum")])
        )
        return traffic, Measure._causes(rows, minute)

    @staticmethod
    def _causes(rows: pa.Table, minute: pa.Array | pa.ChunkedArray) -> pa.Table:
        tagged = pc.is_valid(rows.column("cause"))
        is502 = pc.fill_null(pc.equal(rows.column("elb_status_code"), 502), False)
        return (
            pa.table(
                {
                    "elb": rows.column("elb"),
                    "minute": minute,
                    "cause": rows.column("cause"),
                    "is502": is502,
                }
            )
            .filter(tagged)
            .group_by(["elb", "minute", "cause", "is502"])
            .aggregate([([], "count_all")])
        )

    def add(self, traffic: pa.Table, causes: pa.Table) -> None:
        """Fold in one result of :meth:`count`."""
        names = ("elb", "minute", "elb_502_count", "elb_502_sum", "target_502_sum")
        for elb, minute, requests, elb_502, target_502 in zip(
            *(traffic.column(name).to_pylist() for name in names), strict=True
        ):
            entry = self._entry(elb, minute)
            for counts in (self.total, entry):
                if counts is not None:
                    counts.requests += requests
                    counts.elb_502 += elb_502
                    counts.target_502 += target_502
            if entry is None:
                self.untracked += requests
        self._add_causes(causes)

    def add_causes(self, settled: pa.Table) -> None:
        """Count the causes of entries settled at the end of the object."""
        minute = _minute(settled.column("request_ts"))
        self._add_causes(self._causes(settled, minute))

    def _add_causes(self, causes: pa.Table) -> None:
        names = ("elb", "minute", "cause", "is502", "count_all")
        for elb, minute, cause, is502, count in zip(
            *(causes.column(name).to_pylist() for name in names), strict=True
        ):
            for counts in (self.total, self._entry(elb, minute)):
                if counts is not None:
                    (counts.by_cause if is502 else counts.other_5xx_by_cause)[cause] += count

    def _entry(self, elb: str, minute: datetime) -> MinuteCounts | None:
        key = (elb, minute)
        entry = self._minutes.get(key)
        if entry is None and len(self._minutes) < MAX_MINUTES:
            entry = self._minutes[key] = MinuteCounts(elb, minute)
        return entry

    def minutes(self) -> list[MinuteCounts]:
        """All counts, by minute then load balancer."""
        return sorted(self._minutes.values(), key=lambda m: (m.minute, m.load_balancer))

    def causes(self) -> Counter[str]:
        """502s by cause over the whole object."""
        return Counter(self.total.by_cause)

    def other_5xx_causes(self) -> Counter[str]:
        """The load balancer's other 5xx by cause over the whole object."""
        return Counter(self.total.other_5xx_by_cause)
