"""Helpers for tests that build ALB log text and parse it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from alb502.classifier import settle, tag
from alb502.parser import ParsedChunk, parse_chunk
from alb502.reader import Chunk
from alb502.timeline import ObjectTimeline, chunk_timeline


def entry(
    *,
    time: str = "2026-11-20T10:00:00.000000Z",
    target: str = "10.0.0.1:80",
    timings: str = "0.001 0.002 0.000",
    elb_status: str = "502",
    target_status: str = "-",
    actions: str = "forward",
    error_reason: str = "-",
) -> str:
    """One ALB entry in today's format with the fields the rules read."""
    return (
        f"https {time} app/shop/50dc6c495c0c9188 192.0.2.10:40000 {target} {timings} "
        f'{elb_status} {target_status} 100 200 "GET https://shop.example.com:443/ HTTP/1.1" '
        '"curl/8.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067 "
        '"Root=1-58337262-36d228ad5d99923122bbe354" "shop.example.com" "-" 1 '
        f'{time} "{actions}" "-" "{error_reason}" "{target}" "{target_status}" "-" "-" '
        'TID_1234 "-" "-" "-"'
    )


def parse_text(text: str | bytes, first_line: int = 1) -> ParsedChunk:
    """Parse ``text`` (whole lines) as one chunk."""
    data = text.encode() if isinstance(text, str) else text
    lines = data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
    return parse_chunk(Chunk(data, first_line, lines))


def parse_lines(*lines: str) -> ParsedChunk:
    """Parse ``lines`` as one chunk, one per line."""
    return parse_text("".join(f"{line}\n" for line in lines))


def classify(rows: pa.Table) -> pa.Table:
    """Tag ``rows`` as one whole object (what the pipeline does chunk by chunk), in line order."""
    timeline = ObjectTimeline()
    timeline.add(chunk_timeline(rows))
    tagged, pending = tag(rows)
    settled = settle(tagged.filter(pending), timeline.evidence())
    done = pa.concat_tables([tagged.filter(pc.invert(pending)), settled])
    return done.sort_by("source_line")
