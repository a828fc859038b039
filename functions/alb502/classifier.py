"""Classify stage: tag every 502 with error_source, error_reason and cause.

The rules are ``causes.md``'s, first match wins: ``RULES`` reads like its
rule table (the code families of rule 2 are in ``causes``). Entries that are not 502s keep
null tags. The keep-alive rule needs the whole object (did the target
answer before and after?), so ``TargetActivity`` is accumulated over every
chunk first and the 502s are classified at the end of the object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from alb502.causes import (
    FIXED_RESPONSE,
    TARGET_APP_ERROR,
    TARGET_CLOSED_KEEPALIVE,
    TARGET_CONNECTION_CLOSED,
    TARGET_UNREACHABLE,
    UNKNOWN,
    cause_of_code,
)

# -- evidence over the whole object --------------------------------------------


def target_key(table: pa.Table) -> pa.Array:
    """``ip:port`` of the chosen target, as one string per entry."""
    port = pc.cast(table.column("target_port"), pa.string())
    return pc.binary_join_element_wise(table.column("target_ip"), pc.fill_null(port, ""), ":")


def _microseconds(time: pa.Array | pa.ChunkedArray) -> pa.Array:
    """ALB's ``time`` (already validated by the parser) as integer microseconds."""
    return pc.cast(pc.cast(time, pa.timestamp("us", tz="UTC")), pa.int64())


@dataclass
class TargetActivity:
    """First and last response time (µs) of each target in one object.

    Enough to answer rule 4's question ("did this target:port send a
    response both earlier and later?") without keeping the entries.
    """

    first: dict[str, int] = field(default_factory=dict)
    last: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def responses(rows: pa.Table) -> dict[str, tuple[int, int]]:
        """First and last response time per target among ``rows`` (one chunk).

        Pure, so it runs in the parse workers; :meth:`merge` folds the result in.
        """
        answered = pc.fill_null(
            pc.and_(
                pc.not_equal(rows.column("target_status_code"), "-"),
                pc.not_equal(rows.column("target_ip"), ""),
            ),
            False,
        )
        # Masking beats filtering: the aggregation skips nulls, no rows are copied.
        times = pc.if_else(answered, _microseconds(rows.column("time")), None)
        grouped = (
            pa.table(
                {
                    "target_ip": rows.column("target_ip"),
                    "target_port": rows.column("target_port"),
                    "time": times,
                }
            )
            .group_by(["target_ip", "target_port"])
            .aggregate([("time", "min"), ("time", "max")])
        )
        return {
            f"{ip}:{'' if port is None else port}": (first, last)
            for ip, port, first, last in zip(
                grouped.column("target_ip").to_pylist(),
                grouped.column("target_port").to_pylist(),
                grouped.column("time_min").to_pylist(),
                grouped.column("time_max").to_pylist(),
                strict=True,
            )
            if first is not None
        }

    def merge(self, responses: dict[str, tuple[int, int]]) -> None:
        """Fold in the result of :meth:`responses` for one more chunk."""
        for target, (first, last) in responses.items():
            if target not in self.first or first < self.first[target]:
                self.first[target] = first
            if target not in self.last or last > self.last[target]:
                self.last[target] = last

    def add(self, rows: pa.Table) -> None:
        """Fold in the responses among ``rows``."""
        self.merge(self.responses(rows))

    def served_around(self, target: str, time: int) -> bool:
        """Did ``target`` send a response both before and after ``time``?"""
        first = self.first.get(target)
        last = self.last.get(target)
        return first is not None and last is not None and first < time < last


# -- the rules ------------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    error_reason: str
    cause: str


@dataclass(frozen=True)
class Entry:
    """The fields of one 502 entry that the rules read."""

    target: str
    time: int  # µs
    target_chosen: bool
    request_processing_time: float | None
    target_status_code: str | None
    logged_reason: str | None
    actions: frozenset[str]


@dataclass(frozen=True)
class Rule:
    number: int
    signature: str
    applies: Callable[[Entry], bool]
    tag: Callable[[Entry, TargetActivity], Tag]


def _logged(entry: Entry) -> bool:
    return entry.logged_reason not in (None, "", "-")


def _rule_target_response(entry: Entry, _: TargetActivity) -> Tag:
    reason = entry.logged_reason if _logged(entry) else "TargetResponse502"
    return Tag(str(reason), TARGET_APP_ERROR)


def _rule_connection_failed(entry: Entry, activity: TargetActivity) -> Tag:
    kept_alive = activity.served_around(entry.target, entry.time)
    return Tag(
        "TargetConnectionFailed", TARGET_CLOSED_KEEPALIVE if kept_alive else TARGET_UNREACHABLE
    )


#: causes.md's rule table, in order; the first rule that applies tags the entry.
RULES: tuple[Rule, ...] = (
    Rule(
        1,
        "target_status_code is 502",
        lambda e: e.target_status_code == "502",
        _rule_target_response,
    ),
    Rule(
        2,
        "the logged error_reason is not -",
        _logged,
        lambda e, _: Tag(str(e.logged_reason), cause_of_code(str(e.logged_reason))),
    ),
    Rule(
        3,
        "actions_executed includes fixed-response and not forward",
        lambda e: "fixed-response" in e.actions and "forward" not in e.actions,
        lambda e, _: Tag("FixedResponse", FIXED_RESPONSE),
    ),
    Rule(
        4,
        "a target was chosen and request_processing_time is -1",
        lambda e: e.target_chosen and e.request_processing_time == -1,
        _rule_connection_failed,
    ),
    Rule(
        5,
        "a target was chosen, request_processing_time >= 0, no target_status_code",
        lambda e: (
            e.target_chosen
            and e.request_processing_time is not None
            and e.request_processing_time >= 0
            and e.target_status_code == "-"
        ),
        lambda e, _: Tag("TargetResponseMissing", TARGET_CONNECTION_CLOSED),
    ),
    Rule(6, "anything else", lambda e: True, lambda e, _: Tag("Unclassified", UNKNOWN)),
)


def tag(entry: Entry, activity: TargetActivity) -> Tag:
    """The first rule that applies to a 502 entry gives its tags."""
    for rule in RULES:
        if rule.applies(entry):
            return rule.tag(entry, activity)
    raise AssertionError("rule 6 applies to everything")  # pragma: no cover


def is_502(rows: pa.Table) -> pa.Array:
    """Mask of the entries the load balancer answered with 502."""
    return pc.fill_null(pc.equal(rows.column("elb_status_code"), 502), False)


def classify(rows_502: pa.Table, activity: TargetActivity) -> pa.Table:
    """Set the three tags on 502 entries (a few per object: plain Python is fine)."""
    if rows_502.num_rows == 0:
        return rows_502
    targets = target_key(rows_502).to_pylist()
    times = _microseconds(rows_502.column("time")).to_pylist()
    columns = rows_502.select(
        [
            "target_ip",
            "request_processing_time",
            "target_status_code",
            "lambda_error_reason",
            "actions_executed",
        ]
    ).to_pylist()
    sources: list[str] = []
    reasons: list[str] = []
    causes: list[str] = []
    for target, time, row in zip(targets, times, columns, strict=True):
        entry = Entry(
            target=target,
            time=time,
            target_chosen=bool(row["target_ip"]),
            request_processing_time=row["request_processing_time"],
            target_status_code=row["target_status_code"],
            logged_reason=row["lambda_error_reason"],
            actions=frozenset((row["actions_executed"] or "").split(",")),
        )
        result = tag(entry, activity)
        sources.append("target" if entry.target_status_code == "502" else "elb")
        reasons.append(result.error_reason)
        causes.append(result.cause)
    for name, values in (("error_source", sources), ("error_reason", reasons), ("cause", causes)):
        index = rows_502.schema.get_field_index(name)
        rows_502 = rows_502.set_column(index, name, pa.array(values, pa.string()))
    return rows_502
