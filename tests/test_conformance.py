"""Conformance with 13 open-source ALB parsers' fixtures (../shared/corpus).

Every ``alb`` line must become a row whose fields agree with AWS's own
Athena regex where it reads the line, and with the corpus' reference parse
(``derived``) where it does not; every ``non_alb`` line must be a reject;
nothing is lost. The corpus is other projects' public data: it is read from
../shared, never copied here.

Two conventions differ between ``derived`` and alb502's columns, and are
mapped here, not hidden: ``derived`` keeps ``-`` for absent numbers where
alb502's typed columns (like AWS's) hold null, and for an absent target it
keeps ``-`` as the ip where alb502 (like AWS's table) writes "".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from alb502.dev.athena_regex import parse_line
from alb502.fields import ALB_LOGS_SCHEMA

from logtext import parse_text

RENAMED = {
    "request_method": "request_verb",
    "request_protocol": "request_proto",
    "error_reason": "lambda_error_reason",
}
NUMERIC = {
    f.name for f in ALB_LOGS_SCHEMA if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
}


def load(shared: Path) -> list[dict[str, Any]]:
    path = shared / "corpus" / "peer_cases.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def parsed(line: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    result = parse_text(line if line.endswith("\n") else line + "\n")
    return result.rows.to_pylist(), result.rejects.to_pylist()


def agrees_with_derived(column: str, expected: Any, ours: Any) -> bool:
    if column in NUMERIC:
        if expected in ("-", "", None):
            return ours is None
        return ours is not None and float(expected) == float(ours)
    if column == "target_ip" and expected == "-":
        return ours == ""
    return bool(ours == expected)


def test_corpus_conformance(shared: Path) -> None:
    cases = load(shared)
    assert len(cases) == 145
    seen = {"aws": 0, "derived": 0, "non_alb": 0, "alb_malformed": 0}
    problems: list[str] = []
    for case in cases:
        line, kind, source = case["line"], case["kind"], case["source"]
        rows, rejects = parsed(line)
        if len(rows) + len(rejects) != 1:
            problems.append(
                f"{source}: lost or duplicated ({len(rows)} rows, {len(rejects)} rejects)"
            )
            continue
        if kind in ("non_alb", "alb_malformed"):
            seen[kind] += 1
            if kind == "non_alb" and not rejects:
                problems.append(f"{source}: non-ALB line became a row")
            continue
        if not rows:
            problems.append(f"{source}: ALB line rejected ({rejects[0]['reason']})")
            continue
        row = rows[0]
        aws = parse_line(line.rstrip("\n"))
        if aws is not None:
            seen["aws"] += 1
            diff = {k: (v, row[k]) for k, v in aws.items() if row[k] != v}
        else:
            seen["derived"] += 1
            diff = {}
            for key, value in case["derived"].items():
                if key.startswith("_"):
                    continue
                column = RENAMED.get(key, key)
                if not agrees_with_derived(column, value, row[column]):
                    diff[column] = (value, row[column])
        if diff:
            problems.append(f"{source}: {diff}")
    assert problems == []
    assert seen["aws"] + seen["derived"] == 125
    assert seen["non_alb"] == 14
    # Where AWS's regex reads a line, it is the reference: most lines.
    assert seen["aws"] > seen["derived"]
