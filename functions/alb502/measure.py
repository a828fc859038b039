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
    def count_requests(rows: pa.Table) -> pa.Table:
        """Entries and 502s (by who produced them) per load balancer and minute.

        Pure and column-wise, so it runs in the parse workers; :meth:`add_counts`
        folds the (small) result in.
        """
        is_502 = pc.fill_null(pc.equal(rows.column("elb_status_code"), 502), False)
        from_target = pc.fill_null(pc.equal(rows.column("target_status_code"), "502"), False)
        return (
            pa.table(
                {
                    "elb": rows.column("elb"),
                    "minute": pc.floor_temporal(rows.column("request_ts"), unit="minute"),
                    "elb_502": pc.cast(pc.and_(is_502, pc.invert(from_target)), pa.int64()),
                    "target_502": pc.cast(pc.and_(is_502, from_target), pa.int64()),
                }
            )
            .group_by(["elb", "minute"])
            .aggregate([("elb_502", "count"), ("elb_502", "sum"), ("target_502", "sum")])
        )

    def add_counts(self, counts: pa.Table) -> None:
        """Fold in one result of :meth:`count_requests`."""
        names = ("elb", "minute", "elb_502_count", "elb_502_sum", "target_502_sum")
        for elb, minute, requests, elb_502, target_502 in zip(
            *(counts.column(name).to_pylist() for name in names), strict=True
        ):
            entry = self._entry(elb, minute)
            entry.requests += requests
            entry.elb_502 += elb_502
            entry.target_502 += target_502

    def add_requests(self, rows: pa.Table) -> None:
        """Count the entries of ``rows``."""
        if rows.num_rows:
            self.add_counts(self.count_requests(rows))

    def add_causes(self, tagged_502: pa.Table) -> None:
        """Count classified 502s by cause."""
        for elb, ts, cause in zip(
            tagged_502.column("elb").to_pylist(),
            pc.floor_temporal(tagged_502.column("request_ts"), unit="minute").to_pylist(),
            tagged_502.column("cause").to_pylist(),
            strict=True,
        ):
            self._entry(elb, ts).by_cause[cause] += 1

    def _entry(self, elb: str, minute: datetime) -> MinuteCounts:
        key = (elb, minute)
        if key not in self._minutes:
            self._minutes[key] = MinuteCounts(elb, minute)
        return self._minutes[key]

    def minutes(self) -> list[MinuteCounts]:
        """All counts, by minute then load balancer."""
        return sorted(self._minutes.values(), key=lambda m: (m.minute, m.load_balancer))
