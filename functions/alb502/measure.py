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


@dataclass
class MinuteCounts:
    """Requests and 502s of one load balancer in one minute (UTC, floored)."""

    load_balancer: str
    minute: datetime
    requests: int = 0
    elb_502: int = 0
    target_502: int = 0
    by_cause: Counter[str] = field(default_factory=Counter)


class Measure:
    """Accumulates :class:`MinuteCounts` over the chunks of one object."""

    def __init__(self) -> None:
        self._minutes: dict[tuple[str, datetime], MinuteCounts] = {}

    @staticmethod
    def count(rows: pa.Table) -> tuple[pa.Table, pa.Table]:
        """Per load balancer and minute: entries and 502s by source, and 502s by cause.

        ``rows`` are tagged (``classifier.tag``); entries whose cause is still
        pending are counted by cause later, through :meth:`add_causes`. Pure
        and column-wise, so it runs in the parse workers.
        """
        source = rows.column("error_source")
        minute = pc.floor_temporal(rows.column("request_ts"), unit="minute")
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
        return (
            pa.table({"elb": rows.column("elb"), "minute": minute, "cause": rows.column("cause")})
            .filter(tagged)
            .group_by(["elb", "minute", "cause"])
            .aggregate([([], "count_all")])
        )

    def add(self, traffic: pa.Table, causes: pa.Table) -> None:
        """Fold in one result of :meth:`count`."""
        names = ("elb", "minute", "elb_502_count", "elb_502_sum", "target_502_sum")
        for elb, minute, requests, elb_502, target_502 in zip(
            *(traffic.column(name).to_pylist() for name in names), strict=True
        ):
            entry = self._entry(elb, minute)
            entry.requests += requests
            entry.elb_502 += elb_502
            entry.target_502 += target_502
        self._add_causes(causes)

    def add_causes(self, settled: pa.Table) -> None:
        """Count the causes of entries settled at the end of the object."""
        minute = pc.floor_temporal(settled.column("request_ts"), unit="minute")
        self._add_causes(self._causes(settled, minute))

    def _add_causes(self, causes: pa.Table) -> None:
        for elb, minute, cause, count in zip(
            *(causes.column(name).to_pylist() for name in ("elb", "minute", "cause", "count_all")),
            strict=True,
        ):
            self._entry(elb, minute).by_cause[cause] += count

    def _entry(self, elb: str, minute: datetime) -> MinuteCounts:
        key = (elb, minute)
        if key not in self._minutes:
            self._minutes[key] = MinuteCounts(elb, minute)
        return self._minutes[key]

    def minutes(self) -> list[MinuteCounts]:
        """All counts, by minute then load balancer."""
        return sorted(self._minutes.values(), key=lambda m: (m.minute, m.load_balancer))

    def causes(self) -> Counter[str]:
        """502s by cause over the whole object."""
        total: Counter[str] = Counter()
        for minute in self._minutes.values():
            total.update(minute.by_cause)
        return total
