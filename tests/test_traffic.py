"""The synthetic traffic generator writes what real ALB objects hold."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alb502.dev.traffic import CAUSE_OF_KIND, generate_lines, object_key, write_object

START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# One token: a quoted field (may hold spaces) or a bare one.
TOKEN = re.compile(r'"[^"]*"|\S+')


def tokens(line: str) -> list[str]:
    return [t.strip('"') for t in TOKEN.findall(line)]


def reference_cause(fields: list[str], answered: dict[str, list[str]]) -> str:
    """causes.md's rules, written independently of the library's classifier."""
    target, rpt, tsc, actions, reason = fields[4], fields[5], fields[9], fields[22], fields[24]
    if tsc == "502":
        return "target_app_error"
    if reason != "-":
        families = {
            "LambdaResponseTooLarge": "lambda_response_too_large",
            "LambdaThrottling": "lambda_throttled",
            "LambdaEC2ThrottledException": "lambda_throttled",
            "LambdaUnhandled": "lambda_function_error",
            "LambdaInvalidResponse": "lambda_function_error",
            "LambdaConnectionError": "lambda_service_error",
            "LambdaConnectionTimeout": "lambda_service_error",
            "LambdaServiceException": "lambda_service_error",
            "LambdaBadRequest": "lambda_request_rejected",
            "LambdaRequestTooLarge": "lambda_request_rejected",
            "AWSALBTGCookieInvalid": "routing_error",
            "WeightedTargetGroupsUnhandledException": "routing_error",
        }
        if reason in families:
            return families[reason]
        if reason.startswith("Lambda"):
            return "lambda_config_error"
        if reason.startswith("WAF"):
            return "waf_error"
        if reason.startswith(("Auth", "JWT", "JWKS")):
            return "auth_error"
        return "unknown"
    if "fixed-response" in actions.split(",") and "forward" not in actions.split(","):
        return "fixed_response"
    if target != "-" and rpt == "-1":
        times = answered.get(target, [])
        if any(t < fields[1] for t in times) and any(t > fields[1] for t in times):
            return "target_closed_keepalive"
        return "target_unreachable"
    if target != "-" and tsc == "-":
        return "target_connection_closed"
    return "unknown"


def causes_of(lines: list[str]) -> Counter[str]:
    parsed = [tokens(line) for line in lines]
    answered: dict[str, list[str]] = {}
    for f in parsed:
        if f[4] != "-" and f[9] != "-":
            answered.setdefault(f[4], []).append(f[1])
    return Counter(reference_cause(f, answered) for f in parsed if f[8] == "502")


def test_same_seed_same_lines_other_seed_other_lines() -> None:
    a = list(generate_lines(start=START, minutes=5, lines=500, seed=7))
    b = list(generate_lines(start=START, minutes=5, lines=500, seed=7))
    c = list(generate_lines(start=START, minutes=5, lines=500, seed=8))
    assert a == b
    assert a != c


def test_lines_are_todays_format_sorted_and_realistic() -> None:
    lines = list(generate_lines(start=START, minutes=5, lines=5000, seed=1))
    parsed = [tokens(line) for line in lines]
    assert {len(f) for f in parsed} == {33}
    times = [f[1] for f in parsed]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    assert times[0] >= "2026-11-20T12:00:00" and times[-1] < "2026-11-20T12:05:00"
    assert all(f[29].startswith("TID_") for f in parsed)
    assert {f[0] for f in parsed} >= {"http", "https", "h2", "ws", "wss"}
    assert len({f[12].split(" ")[0] for f in parsed}) >= 5  # methods
    assert any(" " in f[13] for f in parsed)  # user agents with spaces
    assert any(f[3].count(":") > 1 for f in parsed)  # IPv6 clients
    targets = {f[4] for f in parsed if f[4] != "-"}
    assert len(targets) >= 6
    share_502 = sum(f[8] == "502" for f in parsed) / len(parsed)
    assert 0.005 <= share_502 <= 0.02
    assert {"504", "460", "301"} <= {f[8] for f in parsed}
    mean = sum(map(len, lines)) / len(lines)
    assert 550 <= mean <= 660


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_cause_of_causes_md_is_present(seed: int) -> None:
    lines = list(generate_lines(start=START, minutes=5, lines=3000, seed=seed))
    assert set(causes_of(lines)) == set(CAUSE_OF_KIND.values())


def test_without_causes_there_is_no_502() -> None:
    lines = generate_lines(start=START, lines=3000, seed=1, include_502_causes=False)
    assert not any(tokens(line)[8] == "502" for line in lines)


@pytest.mark.parametrize("fields", [29, 30, 33, 36])
def test_older_and_newer_formats(fields: int) -> None:
    lines = generate_lines(start=START, lines=50, seed=1, fields=fields)
    assert {len(tokens(line)) for line in lines} == {fields}


def test_write_object_is_gzip_lines_and_deterministic(tmp_path: Path) -> None:
    lines = list(generate_lines(start=START, lines=20_000, seed=5))
    write_object(tmp_path / "a.log.gz", lines)
    write_object(tmp_path / "b.log.gz", iter(lines))
    assert (tmp_path / "a.log.gz").read_bytes() == (tmp_path / "b.log.gz").read_bytes()
    with gzip.open(tmp_path / "a.log.gz", "rt") as f:
        assert f.read().splitlines() == lines


def test_object_key_is_albs() -> None:
    key = object_key(
        "123456789012",
        "us-east-2",
        "app/my-loadbalancer/50dc6c495c0c9188",
        datetime(2026, 11, 21, 0, 5, tzinfo=UTC),
        "10.0.1.2",
        "2d1eyb9m",
    )
    assert key == (
        "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2026/11/21/"
        "123456789012_elasticloadbalancing_us-east-2_app.my-loadbalancer.50dc6c495c0c9188"
        "_20261121T0005Z_10.0.1.2_2d1eyb9m.log.gz"
    )
