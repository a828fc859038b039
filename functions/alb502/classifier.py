"""Classify stage: tag every 502, and every 5xx the load balancer produced
itself, with error_source, error_reason and cause (``causes.md`` v2).

The rules are ``causes.md``'s, first match wins: ``RULES`` reads like its
rule table (the code families of rule 2 are in ``causes``). Each rule is a
column-wise test, so a chunk is tagged in a few compute calls whatever its
share of errors. Entries out of scope keep null tags.

Rules 4 and 5 read the failed entry's target timeline over the whole
object (``timeline``): :func:`tag` marks those entries pending, the caller
holds them, and :func:`settle` decides them from the object's
:class:`~alb502.timeline.Evidence`, writing what each verdict rested on
into the evidence columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from alb502 import causes
from alb502.timeline import (
    Evidence,
    connect_phase,
    creation_us,
    path,
    post_dispatch,
    target_chosen,
    time_us,
)

#: A column-wise test or value over the tagged entries of a chunk.
Column = Callable[[pa.Table], pa.Array]

#: Rule 4c: the load balancer's connect timeout is 10 s; a little slack.
CONNECT_TIMEOUT_S = 9.5
#: Rule 5d: a response missing this fast was never worked on.
INSTANT_S = 0.002


def in_scope(rows: pa.Table) -> pa.Array:
    """Entries ``causes.md`` tags: every 502, and every 5xx the load balancer made itself."""
    status = rows.column("elb_status_code")
    server_error = pc.and_(pc.greater_equal(status, 500), pc.less_equal(status, 599))
    own = pc.and_(server_error, pc.equal(rows.column("target_status_code"), "-"))
    return pc.fill_null(pc.or_(pc.equal(status, 502), own), False)


def is_502(rows: pa.Table) -> pa.Array:
    """Mask of the entries the load balancer answered with 502."""
    return pc.fill_null(pc.equal(rows.column("elb_status_code"), 502), False)


# -- what the rules read ---------------------------------------------------------


def _target_answered_502(rows: pa.Table) -> pa.Array:
    return pc.fill_null(pc.equal(rows.column("target_status_code"), "502"), False)


def _logged(rows: pa.Table) -> pa.Array:
    code = rows.column("lambda_error_reason")
    return pc.fill_null(pc.and_(pc.not_equal(code, "-"), pc.not_equal(code, "")), False)


def _action(rows: pa.Table, action: str) -> pa.Array:
    pattern = f"(^|,){action}(,|$)"
    return pc.fill_null(pc.match_substring_regex(rows.column("actions_executed"), pattern), False)


def _logged_code_or(default: str) -> Column:
    return lambda rows: pc.if_else(_logged(rows), rows.column("lambda_error_reason"), default)


def _cause_of_codes(rows: pa.Table) -> pa.Array:
    """Rule 2's family table applied to a column of codes (few distinct ones)."""
    codes = rows.column("lambda_error_reason")
    distinct = pc.unique(codes)
    found = [causes.cause_of_code(code or "") for code in distinct.to_pylist()]
    return pa.array(found, pa.string()).take(pc.index_in(codes, distinct))


def _no_targets(rows: pa.Table) -> pa.Array:
    no_target = pc.invert(target_chosen(rows))
    return pc.fill_null(pc.and_(pc.equal(rows.column("elb_status_code"), 503), no_target), False)


def _every(rows: pa.Table) -> pa.Array:
    return pa.repeat(pa.scalar(True), rows.num_rows)


def _flag(name: str) -> Column:
    """A boolean evidence column (only on held entries, see :func:`settle`)."""
    return lambda rows: pc.fill_null(rows.column(name), False)


def _known(name: str) -> Column:
    """The target responded that way in the object: its gap is not null."""
    return lambda rows: pc.is_valid(rows.column(name))


def _all(*tests: Column) -> Column:
    def applies(rows: pa.Table) -> pa.Array:
        mask = tests[0](rows)
        for test in tests[1:]:
            mask = pc.and_(mask, test(rows))
        return mask

    return applies


def _not(test: Column) -> Column:
    return lambda rows: pc.invert(test(rows))


def _at_most(name: str, limit: float) -> Column:
    return lambda rows: pc.fill_null(pc.less_equal(rows.column(name), limit), False)


def _at_least(name: str, limit: float) -> Column:
    return lambda rows: pc.fill_null(pc.greater_equal(rows.column(name), limit), False)


_outage = _flag("outage")
_sporadic = _flag("sporadic")
_before = _known("gap_before_s")
_after = _known("gap_after_s")
_left = _flag("left_rotation")
_never_responded = _not(_flag("ever_responded"))
_concentrated = _flag("concentrated_path")
_response_timeout = _all(
    lambda rows: pc.fill_null(pc.equal(rows.column("elb_status_code"), 504), False),
    lambda rows: pc.fill_null(pc.equal(rows.column("target_processing_time"), -1.0), False),
)


@dataclass(frozen=True)
class Rule:
    """One row of causes.md's rule table."""

    number: str
    signature: str
    applies: Column
    error_reason: Column | str
    cause: Column | str
    #: Rules 4 and 5: the failures this rule can take (connect-phase or
    #: post-dispatch). They are held until the object's timeline is known;
    #: ``applies`` then also reads the evidence columns.
    phase: Column | None = None


def _connect(number: str, signature: str, applies: Column, reason: str, cause: str) -> Rule:
    return Rule(number, signature, applies, reason, cause, phase=connect_phase)


def _dispatched(number: str, signature: str, applies: Column, reason: str, cause: str) -> Rule:
    return Rule(number, signature, applies, reason, cause, phase=post_dispatch)


_FAILED = "TargetConnectionFailed"
_MISSING = "TargetResponseMissing"

#: causes.md's rule table, in order; the first rule that applies tags the entry.
RULES: tuple[Rule, ...] = (
    Rule(
        "1",
        "target_status_code is 502",
        _target_answered_502,
        _logged_code_or("TargetResponse502"),
        causes.TARGET_APP_ERROR,
    ),
    Rule(
        "2",
        "the logged error_reason is not -",
        _logged,
        lambda rows: rows.column("lambda_error_reason"),
        _cause_of_codes,
    ),
    Rule(
        "3",
        "actions_executed includes fixed-response and not forward",
        lambda rows: pc.and_(_action(rows, "fixed-response"), pc.invert(_action(rows, "forward"))),
        "FixedResponse",
        causes.FIXED_RESPONSE,
    ),
    _connect(
        "4a",
        "connect-phase, in an outage, responded before and after the run",
        _all(_outage, _before, _after),
        _FAILED,
        causes.TARGET_RESTARTING,
    ),
    _connect(
        "4b",
        "connect-phase, in an outage, responded before, not after, left the rotation",
        _all(_outage, _before, _not(_after), _left),
        _FAILED,
        causes.TARGET_DEREGISTERED,
    ),
    _connect(
        "4c",
        "connect-phase and elapsed >= 9.5 s",
        _at_least("elapsed_s", CONNECT_TIMEOUT_S),
        "TargetConnectTimeout",
        causes.TARGET_CONNECT_TIMEOUT,
    ),
    _connect(
        "4d",
        "connect-phase, in an outage, the target never responded",
        _all(_outage, _never_responded),
        _FAILED,
        causes.TARGET_UNREACHABLE,
    ),
    _connect(
        "4e",
        "connect-phase, sporadic, responded before and after",
        _all(_sporadic, _before, _after),
        _FAILED,
        causes.TARGET_CLOSED_KEEPALIVE,
    ),
    _connect("4f", "any other connect-phase", _every, _FAILED, causes.TARGET_UNREACHABLE),
    _dispatched(
        "5a",
        "post-dispatch, elb_status_code 504, target_processing_time -1",
        _response_timeout,
        "TargetResponseTimeout",
        causes.TARGET_RESPONSE_TIMEOUT,
    ),
    _dispatched(
        "5b",
        "post-dispatch, in an outage where 4b holds",
        _all(_outage, _before, _not(_after), _left),
        _MISSING,
        causes.TARGET_DEREGISTERED,
    ),
    _dispatched(
        "5c",
        "post-dispatch, not in an outage, on a concentrated path",
        _all(_not(_outage), _concentrated),
        "TargetInvalidResponse",
        causes.TARGET_INVALID_RESPONSE,
    ),
    _dispatched(
        "5d",
        "post-dispatch, target_processing_time <= 0.002, run <= 2, responded before and after",
        _all(
            _at_most("target_processing_time", INSTANT_S),
            _at_most("target_failure_run", 2),
            _before,
            _after,
        ),
        _MISSING,
        causes.TARGET_CLOSED_KEEPALIVE,
    ),
    _dispatched("5e", "any other post-dispatch", _every, _MISSING, causes.TARGET_CONNECTION_CLOSED),
    Rule(
        "6",
        "elb_status_code 503, no target chosen, no logged error_reason",
        _no_targets,
        "NoTargets",
        causes.NO_TARGETS,
    ),
    Rule("7", "anything else", _every, "Unclassified", causes.UNKNOWN),
)


#: Rules 4 and 5: those :func:`settle` decides.
_TIMELINE_RULES = tuple(rule for rule in RULES if rule.phase is not None)


def _values(value: Column | str, rows: pa.Table) -> pa.Array | pa.Scalar:
    return pa.scalar(value, pa.string()) if isinstance(value, str) else value(rows)


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (``replace_with_mask`` takes no chunked input)."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _apply(
    rules: tuple[Rule, ...], rows: pa.Table, *, held: bool
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """error_reason and cause per row by the first rule that applies, and a
    mask of the rows a timeline rule took (while not ``held``: left pending)."""
    remaining = pa.repeat(pa.scalar(True), rows.num_rows)
    reason = pa.nulls(rows.num_rows, pa.string())
    cause = pa.nulls(rows.num_rows, pa.string())
    pending = pa.repeat(pa.scalar(False), rows.num_rows)
    # Several rules share a phase: its mask is computed once per call.
    phases: dict[Column, pa.Array] = {}
    for rule in rules:
        if rule.phase is None:
            test = rule.applies(rows)
        elif held:
            if rule.phase not in phases:
                phases[rule.phase] = rule.phase(rows)
            test = pc.and_(phases[rule.phase], rule.applies(rows))
        else:
            # The timeline decides later: hold every failure of the phase
            # (its first rule takes them all; the rules after it, none).
            if rule.phase not in phases:
                phases[rule.phase] = matched = pc.and_(remaining, rule.phase(rows))
                pending = pc.or_(pending, matched)
                remaining = pc.and_(remaining, pc.invert(matched))
            continue
        matched = pc.and_(remaining, test)
        if not pc.any(matched).as_py():
            continue
        reason = pc.if_else(matched, _values(rule.error_reason, rows), reason)
        cause = pc.if_else(matched, _values(rule.cause, rows), cause)
        remaining = pc.and_(remaining, pc.invert(matched))
    return _array(reason), _array(cause), _array(pending)


def _set(rows: pa.Table, mask: pa.Array, values: dict[str, pa.Array | pa.Scalar]) -> pa.Table:
    """Put ``values`` into the masked rows of the named columns."""
    for name, value in values.items():
        index = rows.schema.get_field_index(name)
        kind = rows.schema.field(name).type
        if isinstance(value, pa.Scalar):
            column = pc.if_else(mask, value.cast(kind), rows.column(name))
        else:
            column = pc.replace_with_mask(_array(rows.column(name)), mask, _array(value).cast(kind))
        rows = rows.set_column(index, name, column)
    return rows


def tag(rows: pa.Table) -> tuple[pa.Table, pa.Array]:
    """Tag the in-scope entries of ``rows`` (one chunk) by ``RULES``.

    Returns the tagged rows and a mask of the entries whose cause is still
    pending (rules 4 and 5): the caller holds those for :func:`settle`.
    """
    scope = _array(in_scope(rows))
    no_pending = pa.repeat(pa.scalar(False), rows.num_rows)
    if not pc.any(scope).as_py():
        return rows, no_pending
    errors = rows.filter(scope)
    reason, cause, pending = _apply(RULES, errors, held=False)
    source = pc.if_else(_target_answered_502(errors), "target", "elb")
    tagged = _set(
        rows,
        scope,
        {
            "error_source": source,
            "error_reason": reason,
            "cause": cause,
            "tagger_version": pa.scalar(causes.TAGGER_VERSION, pa.int32()),
        },
    )
    return tagged, pc.replace_with_mask(no_pending, scope, pending)


def settle(held: pa.Table, evidence: Evidence) -> pa.Table:
    """Rules 4 and 5 for held entries, now that the object's timelines are known.

    The evidence columns (``target_failure_run``, ``target_gap_before_s``,
    ``target_gap_after_s``) record what each verdict rested on.
    """
    if held.num_rows == 0:
        return held
    facts = evidence.for_lines(held.column("source_line"))
    found = pc.index_in(held.column("source_line"), facts.column("source_line"))
    known = {name: pc.take(facts.column(name), found) for name in facts.column_names[1:]}
    # time is when the load balancer answered, request_creation_time when it got the request.
    waited = pc.subtract(time_us(held), creation_us(held))
    elapsed = pc.divide(pc.cast(waited, pa.float64()), 1e6)
    view = held.set_column(
        held.schema.get_field_index("target_failure_run"), "target_failure_run", known["run"]
    )
    for name, values in known.items():
        if name != "run":
            view = view.append_column(name, values)
    view = view.append_column("elapsed_s", elapsed)
    concentrated = (
        pc.is_in(path(held), evidence.concentrated_paths)
        if len(evidence.concentrated_paths)
        else pa.repeat(pa.scalar(False), held.num_rows)
    )
    view = view.append_column("concentrated_path", concentrated)
    reason, cause, _ = _apply(_TIMELINE_RULES, view, held=True)
    decided = {
        "error_reason": reason,
        "cause": cause,
        "target_failure_run": known["run"],
        "target_gap_before_s": known["gap_before_s"],
        "target_gap_after_s": known["gap_after_s"],
    }
    for name, values in decided.items():
        index = held.schema.get_field_index(name)
        held = held.set_column(index, name, values.cast(held.schema.field(name).type))
    return held
