"""Shared fixtures: the team's spec folder, and small helpers to parse text."""

from __future__ import annotations

from pathlib import Path

import pytest

from alb502.parser import ParsedChunk, parse_chunk
from alb502.reader import Chunk

ROOT = Path(__file__).resolve().parents[1]
#: ../shared beside the repository: the spec, AWS's examples, the peer corpus.
SHARED = ROOT.parent / "shared"


@pytest.fixture
def shared() -> Path:
    """The shared spec folder; tests that need it skip where it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the repository")
    return SHARED


def parse_text(text: str | bytes, first_line: int = 1) -> ParsedChunk:
    """Parse ``text`` (whole lines) as one chunk."""
    data = text.encode() if isinstance(text, str) else text
    lines = data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
    return parse_chunk(Chunk(data, first_line, lines))


def parse_lines(*lines: str) -> ParsedChunk:
    """Parse ``lines`` as one chunk, one per line."""
    return parse_text("".join(f"{line}\n" for line in lines))
