"""Diagnosis v2 on realistic incident timelines (``incidents``), line by line.

Each scenario is a whole object written the way ALB logs the incident; the
expected cause of each line comes from what happened in the scenario, not
from the classifier. Version 1 of the rules called the restart and the
deploy "keep-alive" and missed the post-dispatch keep-alive races, so these
tests fail on it.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import incidents
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from incidents import Incident

from alb502 import reader, timeline
from alb502.classifier import in_scope
from alb502.pipeline import process_object

from logtext import classify, entry, parse_text

SEEDS = (1, 2, 3)


def verdicts(incident: Incident) -> list[str | None]:
    """The cause alb502 gives each line of the incident's object, in line order."""
    rows = classify(parse_text(incident.text()).rows)
    return rows.column("cause").to_pylist()


def confusion(expected: list[str | None], found: list[str | None]) -> Counter[tuple[str, str]]:
    return Counter((e or "-", f or "-") for e, f in zip(expected, found, strict=True) if e != f)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(incidents.SCENARIOS))
def test_each_scenario_line_by_line(name: str, seed: int) -> None:
    incident = incidents.SCENARIOS[name](seed)
    expected = incident.expected()
    assert any(expected), "the scenario writes its incident"
    assert confusion(expected, verdicts(incident)) == Counter()


@pytest.mark.parametrize("seed", SEEDS)
def test_all_scenarios_mixed_on_one_load_balancer(seed: int) -> None:
    incident = incidents.mixed(seed)
    assert confusion(incident.expected(), verdicts(incident)) == Counter()


def test_the_pipeline_agrees_with_the_whole_object_view(tmp_path: Path) -> None:
    """Chunked, held, spilled and settled: the same verdicts as all at once."""
    incident = incidents.mixed(7)
    source = tmp_path / "mixed.log"
    source.write_text(incident.text())
    process_object(str(source), str(tmp_path / "lake"))
    table = pq.read_table(tmp_path / "lake/alb_logs").sort_by("source_line")
    assert table.column("cause").to_pylist() == incident.expected()


def test_evidence_columns_explain_the_verdicts() -> None:
    """A user asking "why keep-alive?" reads the answer from the row."""
    rows = classify(parse_text(incidents.restart(1).text()).rows)
    restarting = rows.filter(pc.equal(rows.column("cause"), "target_restarting"))
    runs = set(restarting.column("target_failure_run").to_pylist())
    assert len(runs) == 1 and runs.pop() >= 50  # one dense run
    assert pc.min(restarting.column("target_gap_before_s")).as_py() >= 0
    assert pc.max(restarting.column("target_gap_before_s")).as_py() <= 21
    assert restarting.column("target_gap_after_s").null_count == 0
    assert set(restarting.column("tagger_version").to_pylist()) == {2}

    rows = classify(parse_text(incidents.keepalive_races(1).text()).rows)
    races = rows.filter(pc.equal(rows.column("cause"), "target_closed_keepalive"))
    assert set(races.column("target_failure_run").to_pylist()) == {1}
    assert pc.max(races.column("target_gap_before_s")).as_py() < 2
    assert pc.max(races.column("target_gap_after_s")).as_py() < 2

    rows = classify(parse_text(incidents.deploy_without_draining(1).text()).rows)
    gone = rows.filter(pc.equal(rows.column("cause"), "target_deregistered"))
    assert gone.column("target_gap_after_s").null_count == gone.num_rows  # never back
    # Tagged rows of rules 1-3 and 6 carry no timeline evidence.
    rows = classify(parse_text(incidents.lambda_and_edge_failures(1).text()).rows)
    tagged = rows.filter(pc.is_valid(rows.column("cause")))
    assert tagged.column("target_failure_run").null_count == tagged.num_rows


def precision_recall() -> dict[str, tuple[int, float, float]]:
    """Per cause over every scenario and seed: lines, precision, recall."""
    true_positive: Counter[str] = Counter()
    claimed: Counter[str] = Counter()
    actual: Counter[str] = Counter()
    for build in (*incidents.SCENARIOS.values(), incidents.mixed):
        for seed in SEEDS:
            incident = build(seed)
            for e, f in zip(incident.expected(), verdicts(incident), strict=True):
                if e:
                    actual[e] += 1
                if f:
                    claimed[f] += 1
                if e and e == f:
                    true_positive[e] += 1
    return {
        cause: (
            actual[cause],
            true_positive[cause] / claimed[cause] if claimed[cause] else 0.0,
            true_positive[cause] / actual[cause] if actual[cause] else 0.0,
        )
        for cause in sorted(set(actual) | set(claimed))
    }


if __name__ == "__main__":  # python tests/test_incidents.py: the table for the notes
    print(f"{'cause':<28} {'lines':>6} {'precision':>9} {'recall':>7}")
    for cause, (lines, precision, recall) in precision_recall().items():
        print(f"{cause:<28} {lines:>6} {precision:>9.3f} {recall:>7.3f}")


@pytest.mark.parametrize(
    "created",
    ["-", "2026-13-40T10:00:00.000000Z", "2026-11-20T10:00:02.1234567Z", "garbage", ""],
)
def test_an_unusable_request_creation_time_falls_back_to_time(created: str) -> None:
    """A damaged request_creation_time never fails the object: ``time`` stands in."""
    good = entry(time="2026-11-20T10:00:01.000000Z", elb_status="200", target_status="200")
    bad = entry(time="2026-11-20T10:00:02.000000Z", timings="-1 -1 -1")
    bad = bad.replace(' 2026-11-20T10:00:02.000000Z "forward"', f' {created or "-"} "forward"')
    after = entry(time="2026-11-20T10:00:03.000000Z", elb_status="200", target_status="200")
    rows = classify(parse_text(f"{good}\n{bad}\n{after}\n").rows)
    assert rows.column("cause").to_pylist() == [None, "target_closed_keepalive", None]


def test_url_counts_staged_on_disk_give_the_same_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invalid responses on one path (URLs with and without a query string),
    with the URL counts spilled chunk by chunk."""
    monkeypatch.setattr(timeline, "_URL_ROWS_KEPT", 50)
    incident = incidents.invalid_responses_on_one_path(3)
    source = tmp_path / "object.log"
    source.write_text(incident.text())
    process_object(str(source), str(tmp_path / "lake"))
    table = pq.read_table(tmp_path / "lake/alb_logs").sort_by("source_line")
    assert table.column("cause").to_pylist() == incident.expected()
    assert "target_invalid_response" in incident.expected()


def test_older_lines_without_request_creation_time_use_time() -> None:
    """Lines of the oldest format end after trace_id: the timeline reads ``time``."""
    short = [
        " ".join(entry(time=f"2026-11-20T10:00:0{second}.000000Z", **kwargs).split(" ")[:20])
        for second, kwargs in (
            (1, {"elb_status": "200", "target_status": "200"}),
            (2, {"timings": "-1 -1 -1"}),
            (3, {"elb_status": "200", "target_status": "200"}),
        )
    ]
    parsed = parse_text("".join(f"{line}\n" for line in short)).rows
    assert parsed.num_rows == 3
    assert parsed.column("request_creation_time").null_count == 3
    rows = classify(parsed)
    assert rows.column("cause").to_pylist() == [None, "target_closed_keepalive", None]
    assert rows.column("target_gap_before_s").to_pylist()[1] == pytest.approx(1.0)


def _random_object(rng: random.Random, lines: int) -> str:
    """Entries on a few targets with random statuses, timings and times (some
    equal, some out of order, some without a usable request_creation_time)."""
    out = []
    targets = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.2:81", "-", "[2001:db8::1]:443"]
    for _ in range(lines):
        second = rng.choice([rng.randrange(0, 300), 100])  # many share one second
        time = f"2026-11-20T10:{second // 60:02d}:{second % 60:02d}.{rng.randrange(10**6):06d}Z"
        status, target_status = rng.choice(
            [
                ("200", "200"),
                ("502", "-"),
                ("504", "-"),
                ("502", "502"),
                ("503", "-"),
                ("500", "-"),
                ("561", "-"),
                ("460", "-"),
                ("500", "500"),
            ]
        )
        timings = rng.choice(
            [
                "-1 -1 -1",
                "0.001 -1 -1",
                "0.001 0.000 -1",
                "0.001 4.2 -1",
                "0.001 0.010 0.000",
                "-1 -1 -1",
            ]
        )
        line = entry(
            time=time,
            target=rng.choice(targets),
            timings=timings,
            elb_status=status,
            target_status=target_status,
            error_reason=rng.choice(["-"] * 8 + ["LambdaUnhandled", "WAFServiceError"]),
        )
        if rng.random() < 0.05:
            line = line.replace(f' {time} "forward"', ' - "forward"')
        out.append(line)
    return "".join(f"{line}\n" for line in out)


@pytest.mark.parametrize("seed", range(6))
def test_random_objects_tag_every_in_scope_entry_the_same_chunked_or_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """No exception; every in-scope entry gets a cause; the pipeline (small
    chunks, held rows, staged URL counts) agrees with the whole-object view."""
    text = _random_object(random.Random(seed), 1500)
    whole = classify(parse_text(text).rows)
    scope = in_scope(whole)
    assert whole.filter(scope).column("cause").null_count == 0
    assert (
        whole.filter(pc.invert(scope)).column("cause").null_count
        == whole.num_rows - pc.sum(scope).as_py()
    )
    monkeypatch.setattr(reader, "CHUNK_SIZE", 16 * 1024)
    monkeypatch.setattr(timeline, "_URL_ROWS_KEPT", 40)
    monkeypatch.setattr(timeline, "_GROUP_ROWS", 100)
    source = tmp_path / "random.log"
    source.write_text(text)
    process_object(str(source), str(tmp_path / "lake"))
    chunked = pq.read_table(tmp_path / "lake/alb_logs").sort_by("source_line")
    for column in ("cause", "error_reason", "target_failure_run", "target_gap_before_s"):
        assert chunked.column(column).to_pylist() == whole.column(column).to_pylist(), column
