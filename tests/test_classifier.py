"""Classifier: every rule and code family of causes.md, first match wins."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from alb502 import causes
from alb502.classifier import RULES, TargetActivity, classify, is_502
from alb502.pipeline import process_object
from alb502.reader import CHUNK_SIZE

from logtext import entry, parse_lines


def tags(*lines: str) -> list[tuple[str | None, str | None, str | None]]:
    """(error_source, error_reason, cause) of every entry, as one object."""
    rows = parse_lines(*lines).rows
    activity = TargetActivity()
    activity.add(rows)
    tagged = classify(rows.filter(is_502(rows)), activity)
    return list(
        zip(
            tagged.column("error_source").to_pylist(),
            tagged.column("error_reason").to_pylist(),
            tagged.column("cause").to_pylist(),
            strict=True,
        )
    )


def test_rules_are_causes_md_in_order() -> None:
    assert [rule.number for rule in RULES] == [1, 2, 3, 4, 5, 6]


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


def test_entries_other_than_502_keep_null_tags() -> None:
    rows = parse_lines(
        entry(elb_status="504", timings="-1 -1 -1"), entry(elb_status="200", target_status="200")
    ).rows
    assert is_502(rows).to_pylist() == [False, False]
    assert rows.column("cause").null_count == 2


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
