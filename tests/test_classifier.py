"""Classifier: every rule and code family of causes.md, first match wins."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from alb502 import causes
from alb502.classifier import RULES, is_502
from alb502.pipeline import process_object
from alb502.reader import CHUNK_SIZE

from logtext import classify, entry, parse_lines


def tags(*lines: str) -> list[tuple[str | None, str | None, str | None]]:
    """(error_source, error_reason, cause) of every 502, in line order, as one object."""
    done = classify(parse_lines(*lines).rows)
    errors = done.filter(is_502(done))
    return list(
        zip(
            errors.column("error_source").to_pylist(),
            errors.column("error_reason").to_pylist(),
            errors.column("cause").to_pylist(),
            strict=True,
        )
    )


def test_rules_are_causes_md_in_order(shared: Path) -> None:
    """RULES, the causes and the code families say what causes.md says."""
    text = (shared / "causes.md").read_text()
    rule_rows = re.findall(r"^\| (\d[a-f]?) \| .+? \| (.+?) \| (.+?) \|$", text, re.M)
    assert [rule.number for rule in RULES] == [number for number, _, _ in rule_rows]
    for rule, (_, code, cause) in zip(RULES, rule_rows, strict=True):
        if isinstance(rule.error_reason, str):
            assert f"`{rule.error_reason}`" == code, rule.number
        if isinstance(rule.cause, str):
            assert f"`{rule.cause}`" == cause, rule.number
        # Rules 4 and 5, and only they, wait for the target's timeline.
        assert (rule.phase is not None) == (rule.number[0] in "45"), rule.number
    assert RULES[0].error_reason != "TargetResponse502"  # the logged code wins
    documented_causes = set(re.findall(r"^- `([a-z_0-9]+)`", text, re.M))
    documented_causes |= set(re.findall(r"^\| `([a-z_0-9]+)` \| [A-Z]", text, re.M))
    assert set(causes.CAUSES) == documented_causes
    families = dict(re.findall(r"^\| `([a-z_]+)` \| ([A-Z].*?) \|$", text, re.M))
    for cause, patterns in causes.CODE_FAMILIES:
        for pattern in patterns:
            assert pattern.rstrip("*") in families[cause], (cause, pattern)


def test_rule_1_target_answered_502() -> None:
    assert tags(entry(target_status="502")) == [("target", "TargetResponse502", "target_app_error")]


def test_rule_1_keeps_a_logged_code() -> None:
    line = entry(target_status="502", error_reason="SomethingNew")
    assert tags(line) == [("target", "SomethingNew", "target_app_error")]


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        ("LambdaResponseTooLarge", "lambda_response_too_large"),
        ("LambdaThrottling", "lambda_throttled"),
        ("LambdaEC2ThrottledException", "lambda_throttled"),
        ("LambdaUnhandled", "lambda_function_error"),
        ("LambdaInvalidResponse", "lambda_function_error"),
        ("LambdaAccessDenied", "lambda_config_error"),
        ("LambdaKMSDisabledException", "lambda_config_error"),
        ("LambdaSubnetIPAddressLimitReachedException", "lambda_config_error"),
        ("LambdaConnectionTimeout", "lambda_service_error"),
        ("LambdaUnhandledException", "lambda_service_error"),
        ("LambdaBadRequest", "lambda_request_rejected"),
        ("LambdaWebsocketNotSupported", "lambda_request_rejected"),
        ("WAFConnectionError", "waf_error"),
        ("AuthInvalidIdToken", "auth_error"),
        ("JWTHeaderNotPresent", "auth_error"),
        ("JWKSRequestTimeout", "auth_error"),
        ("AWSALBTGCookieInvalid", "routing_error"),
        ("WeightedTargetGroupsUnhandledException", "routing_error"),
        ("BrandNewCode2027", "unknown"),
    ],
)
def test_rule_2_logged_codes_by_family(code: str, cause: str) -> None:
    assert tags(entry(target="-", error_reason=code)) == [("elb", code, cause)]


def test_every_cause_has_a_remedy() -> None:
    assert set(causes.REMEDIES) == set(causes.CAUSES)


def test_rule_3_fixed_response() -> None:
    line = entry(target="-", actions="waf,fixed-response")
    assert tags(line) == [("elb", "FixedResponse", "fixed_response")]


def test_rule_3_needs_no_forward() -> None:
    line = entry(target="-", actions="fixed-response,forward")
    assert tags(line) == [("elb", "Unclassified", "unknown")]


def test_rule_4_unreachable_target() -> None:
    line = entry(timings="-1 -1 -1")
    assert tags(line) == [("elb", "TargetConnectionFailed", "target_unreachable")]


def test_rule_4_keepalive_needs_answers_before_and_after() -> None:
    before = entry(time="2026-11-20T10:00:01.000000Z", elb_status="200", target_status="200")
    failed = entry(time="2026-11-20T10:00:02.000000Z", timings="-1 -1 -1")
    after = entry(time="2026-11-20T10:00:03.000000Z", elb_status="200", target_status="200")
    other = entry(target="10.0.0.2:80", time="2026-11-20T10:00:04.000000Z", timings="-1 -1 -1")
    # The object is not in time order: the rule compares times, not positions.
    assert tags(after, failed, before, other) == [
        ("elb", "TargetConnectionFailed", "target_closed_keepalive"),
        ("elb", "TargetConnectionFailed", "target_unreachable"),
    ]
    assert tags(before, failed) == [("elb", "TargetConnectionFailed", "target_unreachable")]
    assert tags(failed, after) == [("elb", "TargetConnectionFailed", "target_unreachable")]


def test_rule_4_same_ip_other_port_is_another_target() -> None:
    before = entry(
        target="10.0.0.1:81",
        time="2026-11-20T10:00:01.000000Z",
        elb_status="200",
        target_status="200",
    )
    after = entry(
        target="10.0.0.1:81",
        time="2026-11-20T10:00:03.000000Z",
        elb_status="200",
        target_status="200",
    )
    failed = entry(time="2026-11-20T10:00:02.000000Z", timings="-1 -1 -1")
    assert tags(before, failed, after) == [("elb", "TargetConnectionFailed", "target_unreachable")]


def test_rule_5_connection_closed() -> None:
    line = entry(timings="0.001 -1 -1")
    assert tags(line) == [("elb", "TargetResponseMissing", "target_connection_closed")]


def test_rule_6_anything_else() -> None:
    assert tags(entry(target="-")) == [("elb", "Unclassified", "unknown")]


def test_first_match_wins() -> None:
    # A target 502 with a logged code: rule 1 before rule 2.
    line = entry(target_status="502", error_reason="LambdaUnhandled", timings="-1 -1 -1")
    assert tags(line) == [("target", "LambdaUnhandled", "target_app_error")]


def test_scope_is_502s_and_the_load_balancers_own_5xx(tmp_path: Path) -> None:
    """v2 tags every 502 and every 5xx the load balancer made; nothing else."""
    lines = [
        entry(elb_status="504", timings="-1 -1 -1"),  # load balancer's 504: tagged
        entry(elb_status="200", target_status="200"),
        entry(elb_status="503", target="-", error_reason="LambdaThrottling"),  # tagged
        entry(timings="0.001 4.205 -1"),  # 502
        entry(elb_status="500", target_status="500"),  # the target's own 500: not tagged
        entry(elb_status="460", timings="0.001 -1 -1"),  # client closed: not tagged
        entry(elb_status="561", target="-", error_reason="AuthInvalidIdToken"),  # tagged
    ]
    source = tmp_path / "object.log"
    source.write_text("\n".join(lines) + "\n")
    report = process_object(str(source), str(tmp_path / "lake"))
    table = pq.read_table(tmp_path / "lake/alb_logs").sort_by("source_line")
    assert table.column("cause").to_pylist() == [
        "target_unreachable",
        None,
        "lambda_throttled",
        "target_connection_closed",
        None,
        None,
        "auth_error",
    ]
    assert table.column("error_source").to_pylist() == [
        "elb",
        None,
        "elb",
        "elb",
        None,
        None,
        "elb",
    ]
    assert table.column("tagger_version").to_pylist() == [2, None, 2, 2, None, None, 2]
    # Errors502 counts 502s only; the other tagged 5xx are counted apart.
    assert dict(report.causes) == {"target_connection_closed": 1}
    assert dict(report.other_5xx) == {
        "target_unreachable": 1,
        "lambda_throttled": 1,
        "auth_error": 1,
    }


def test_an_outage_object_is_all_held_and_settled(tmp_path: Path) -> None:
    """Every entry waiting for rules 4-5: spilled, then settled, none lost."""
    answer = entry(target="10.0.0.9:80", elb_status="200", target_status="200")
    lines = [answer.replace("10:00:00.000000", "09:59:00.000000")]
    lines += [entry(target="10.0.0.9:80", timings="-1 -1 -1")] * 30_000
    lines += [entry(timings="-1 -1 -1")] * 30_000
    lines += [answer.replace("10:00:00.000000", "10:01:00.000000")]
    source = tmp_path / "outage.log"
    source.write_text("\n".join(lines) + "\n")
    report = process_object(str(source), str(tmp_path / "lake"))
    # A dense run on a target that answered before and after: a restart (4a);
    # one that never answered: unreachable (4d).
    assert dict(report.causes) == {"target_restarting": 30_000, "target_unreachable": 30_000}
    table = pq.read_table(tmp_path / "lake/alb_logs")
    assert table.num_rows == len(lines)
    assert sorted(table.column("source_line").to_pylist()) == list(range(1, len(lines) + 1))


def test_keepalive_rule_sees_the_whole_object(tmp_path: Path) -> None:
    """Answers before and after the failure sit in other chunks of the object."""
    filler = entry(target="10.9.9.9:80", elb_status="200", target_status="200")
    per_chunk = CHUNK_SIZE // len(filler) + 10
    lines = [entry(time="2026-11-20T10:00:01.000000Z", elb_status="200", target_status="200")]
    lines += [filler] * per_chunk
    lines += [entry(time="2026-11-20T10:00:02.000000Z", timings="-1 -1 -1")]
    lines += [filler] * per_chunk
    lines += [entry(time="2026-11-20T10:00:03.000000Z", elb_status="200", target_status="200")]
    source = tmp_path / "object.log"
    source.write_text("\n".join(lines) + "\n")
    report = process_object(str(source), str(tmp_path / "lake"))
    assert report.lines == len(lines)
    assert dict(report.causes) == {"target_closed_keepalive": 1}
    table = pq.read_table(tmp_path / "lake/alb_logs/day=2026-11-20/object.parquet")
    tagged = table.filter(is_502(table))
    assert tagged.column("source_line").to_pylist() == [per_chunk + 2]
