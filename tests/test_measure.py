"""Measure: what the metrics count, per load balancer and minute."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alb502 import measure as measure_module
from alb502.measure import Measure

from logtext import classify, entry, parse_lines


def test_entries_are_counted_in_the_minute_they_were_answered_in() -> None:
    rows = classify(
        parse_lines(
            entry(time="2026-11-20T10:00:00.000000Z", elb_status="200", target_status="200"),
            entry(time="2026-11-20T10:00:59.999999Z"),
            entry(time="2026-11-20T10:01:00.000000Z", target_status="502"),
            entry(time="2026-11-20T23:59:59.999000Z", elb_status="200", target_status="200"),
        ).rows
    )
    measure = Measure()
    measure.add(*Measure.count(rows))
    counted = {
        m.minute: (m.requests, m.elb_502, m.target_502, dict(m.by_cause)) for m in measure.minutes()
    }
    assert counted == {
        datetime(2026, 11, 20, 10, 0, tzinfo=UTC): (2, 1, 0, {"target_closed_keepalive": 1}),
        datetime(2026, 11, 20, 10, 1, tzinfo=UTC): (1, 0, 1, {"target_app_error": 1}),
        datetime(2026, 11, 20, 23, 59, tzinfo=UTC): (1, 0, 0, {}),
    }


def test_beyond_max_minutes_entries_count_in_the_totals_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A damaged object naming a minute per line: memory stays bounded, totals stay whole."""
    monkeypatch.setattr(measure_module, "MAX_MINUTES", 2)
    rows = classify(
        parse_lines(
            *(
                entry(time=f"2026-11-20T10:0{minute}:00.000000Z", target_status="502")
                for minute in range(5)
            ),
            entry(time="2026-11-20T10:00:30.000000Z", elb_status="200", target_status="200"),
        ).rows
    )
    measure = Measure()
    measure.add(*Measure.count(rows))
    assert [(m.minute.minute, m.requests) for m in measure.minutes()] == [(0, 2), (1, 1)]
    assert measure.untracked == 3
    assert (measure.total.requests, measure.total.target_502) == (6, 5)
    assert measure.causes() == {"target_app_error": 5}
