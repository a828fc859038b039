"""Classify stage: tag every 502 with error_source, error_reason and cause.

The rules are ``causes.md``'s, first match wins: ``RULES`` reads like its
rule table (the code families of rule 2 are in ``causes``). Each rule is a
column-wise test, so a chunk is tagged in a few compute calls whatever its
share of 502s. Entries that are not 502s keep null tags.

Rule 4 alone needs the whole object (did the target answer before and
after?): :func:`tag` leaves those entries' cause pending, the caller holds
them, and :func:`settle` decides them from the ``TargetActivity`` gathered
over every chunk.
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
    """``ip:port`` of the chosen target, as one string per entry (for reports)."""
    port = pc.cast(table.column("target_port"), pa.string())
    return pc.binary_join_element_wise(table.column("target_ip"), pc.fill_null(port, ""), ":")


#: A target as the log names it: ip and port (port null when the log has none).
Target = tuple[str, int | None]


def _microseconds(time: pa.Array | pa.ChunkedArray) -> pa.Array:
    """ALB's ``time`` (already validated by the parser) as integer microseconds."""
    return pc.cast(pc.cast(time, pa.timestamp("us", tz="UTC")), pa.int64())


@dataclass
class TargetActivity:
    """First and last response time (µs) of each target in one object.

    Enough to answer rule 4's question ("did this target:port send a
    response both earlier and later?") without keeping the entries.
    """

    first: dict[Target, int] = field(default_factory=dict)
    last: dict[Target, int] = field(default_factory=dict)

    @staticmethod
    def responses(rows: pa.Table) -> dict[Target, tuple[int, int]]:
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
            (ip, port): (first, last)
            for ip, port, first, last in zip(
                grouped.column("target_ip").to_pylist(),
                grouped.column("target_port").to_pylist(),
                grouped.column("time_min").to_pylist(),
                grouped.column("time_max").to_pylist(),
                strict=True,
            )
            if first is not None
        }

    def merge(self, responses: dict[Target, tuple[int, int]]) -> None:
        """Fold in the result of :meth:`responses` for one more chunk."""
        for target, (first, last) in responses.items():
            if target not in self.first or first < self.first[target]:
                self.first[target] = first
            if target not in self.last or last > self.last[target]:
                self.last[target] = last

    def add(self, rows: pa.Table) -> None:
        """Fold in the responses among ``rows``."""
        self.merge(self.responses(rows))

    def table(self) -> pa.Table:
        """The first and last response time of each target, as a table."""
        targets = list(self.first)
        return pa.table(
            {
                "target_ip": pa.array([ip for ip, _ in targets], pa.string()),
                "target_port": pa.array([port for _, port in targets], pa.int32()),
                "first_response": pa.array([self.first[t] for t in targets], pa.int64()),
                "last_response": pa.array([self.last[t] for t in targets], pa.int64()),
            }
        )


# -- the rules ------------------------------------------------------------------

#: A column-wise test or value over the 502 entries of a chunk.
Column = Callable[[pa.Table], pa.Array]


def _target_answered_502(rows: pa.Table) -> pa.Array:
    return pc.fill_null(pc.equal(rows.column("target_status_code"), "502"), False)


def _logged(rows: pa.Table) -> pa.Array:
    code = rows.column("lambda_error_reason")
    return pc.fill_null(pc.and_(pc.not_equal(code, "-"), pc.not_equal(code, "")), False)


def _action(rows: pa.Table, action: str) -> pa.Array:
    pattern = f"(^|,){action}(,|$)"
    return pc.fill_null(pc.match_substring_regex(rows.column("actions_executed"), pattern), False)


def _target_chosen(rows: pa.Table) -> pa.Array:
    return pc.fill_null(pc.not_equal(rows.column("target_ip"), ""), False)


def _request_processing_time(rows: pa.Table, compare: str, value: float) -> pa.Array:
    return pc.fill_null(
        pc.call_function(compare, [rows.column("request_processing_time"), value]), False
    )


def _no_response(rows: pa.Table) -> pa.Array:
    return pc.fill_null(pc.equal(rows.column("target_status_code"), "-"), False)


def _logged_code_or(default: str) -> Column:
    return lambda rows: pc.if_else(_logged(rows), rows.column("lambda_error_reason"), default)


def _cause_of_codes(rows: pa.Table) -> pa.Array:
    """Rule 2's family table applied to a column of codes (few distinct ones)."""
    codes = rows.column("lambda_error_reason")
    distinct = pc.unique(codes)
    causes = pa.array([cause_of_code(code or "") for code in distinct.to_pylist()], pa.string())
    return causes.take(pc.index_in(codes, distinct))


@dataclass(frozen=True)
class Rule:
    """One row of causes.md's rule table."""

    number: int
    signature: str
    applies: Column
    error_reason: Column | str
    #: ``None``: decided over the whole object by :func:`settle` (rule 4).
    cause: Column | str | None


#: causes.md's rule table, in order; the first rule that applies tags the entry.
RULES: tuple[Rule, ...] = (
    Rule(
        1,
        "target_status_code is 502",
        _target_answered_502,
        _logged_code_or("TargetResponse502"),
        TARGET_APP_ERROR,
    ),
    Rule(
        2,
        "the logged error_reason is not -",
        _logged,
        lambda rows: rows.column("lambda_error_reason"),
        _cause_of_codes,
    ),
    Rule(
        3,
        "actions_executed includes fixed-response and not forward",
        lambda rows: pc.and_(_action(rows, "fixed-response"), pc.invert(_action(rows, "forward"))),
        "FixedResponse",
        FIXED_RESPONSE,
    ),
    Rule(
        4,
        "a target was chosen and request_processing_time is -1",
        lambda rows: pc.and_(_target_chosen(rows), _request_processing_time(rows, "equal", -1.0)),
        "TargetConnectionFailed",
        None,  # target_closed_keepalive or target_unreachable: see settle()
    ),
    Rule(
        5,
        "a target was chosen, request_processing_time >= 0, no target_status_code",
        lambda rows: pc.and_(
            pc.and_(_target_chosen(rows), _request_processing_time(rows, "greater_equal", 0.0)),
            _no_response(rows),
        ),
        "TargetResponseMissing",
        TARGET_CONNECTION_CLOSED,
    ),
    Rule(
        6, "anything else", lambda rows: pc.is_valid(rows.column("time")), "Unclassified", UNKNOWN
    ),
)


def is_502(rows: pa.Table) -> pa.Array:
    """Mask of the entries the load balancer answered with 502."""
    return pc.fill_null(pc.equal(rows.column("elb_status_code"), 502), False)


def _values(value: Column | str, rows: pa.Table) -> pa.Array | pa.Scalar:
    return pa.scalar(value, pa.string()) if isinstance(value, str) else value(rows)


def tag(rows: pa.Table) -> tuple[pa.Table, pa.Array]:
    """Tag the 502s of ``rows`` (one chunk) by ``RULES``.

    Returns the tagged rows and a mask of the entries whose cause is still
    pending (rule 4): the caller holds those for :func:`settle`.
    """
    is502 = _array(is_502(rows))
    no_pending = pa.repeat(pa.scalar(False), rows.num_rows)
    if not pc.any(is502).as_py():
        return rows, no_pending
    errors = rows.filter(is502)
    remaining = pa.repeat(pa.scalar(True), errors.num_rows)
    reason = pa.nulls(errors.num_rows, pa.string())
    cause = pa.nulls(errors.num_rows, pa.string())
    pending = pa.repeat(pa.scalar(False), errors.num_rows)
    for rule in RULES:
        matched = pc.and_(remaining, rule.applies(errors))
        if not pc.any(matched).as_py():
            continue
        reason = pc.if_else(matched, _values(rule.error_reason, errors), reason)
        if rule.cause is None:
            pending = pc.or_(pending, matched)
        else:
            cause = pc.if_else(matched, _values(rule.cause, errors), cause)
        remaining = pc.and_(remaining, pc.invert(matched))
    source = pc.if_else(_target_answered_502(errors), "target", "elb")
    for name, values in (("error_source", source), ("error_reason", reason), ("cause", cause)):
        index = rows.schema.get_field_index(name)
        column = pc.replace_with_mask(rows.column(name).combine_chunks(), is502, _array(values))
        rows = rows.set_column(index, name, column)
    return rows, pc.replace_with_mask(no_pending, is502, _array(pending))


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (``replace_with_mask`` takes no chunked input)."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def settle(held: pa.Table, activity: TargetActivity) -> pa.Table:
    """Rule 4's cause for held entries, now that the whole object is known.

    ``target_closed_keepalive`` when the same target:port sent a response
    both earlier and later (by ``time``) in the object, else
    ``target_unreachable``: alb502's inference, see causes.md.
    """
    if held.num_rows == 0:
        return held
    order = pa.array(range(held.num_rows), pa.int64())
    keys = held.select(["target_ip", "target_port"]).append_column("_row", order)
    joined = keys.join(activity.table(), ["target_ip", "target_port"], join_type="left outer")
    joined = joined.sort_by("_row")
    time = _microseconds(held.column("time"))
    kept_alive = pc.fill_null(
        pc.and_(
            pc.less(joined.column("first_response"), time),
            pc.less(time, joined.column("last_response")),
        ),
        False,
    )
    cause = pc.if_else(kept_alive, TARGET_CLOSED_KEEPALIVE, TARGET_UNREACHABLE)
    return held.set_column(held.schema.get_field_index("cause"), "cause", cause)
