"""The per-line fallback tokenizer."""

from __future__ import annotations

import pytest

from alb502.tokenizer import decode_line, tokenize


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        ('http "GET / HTTP/1.1" -', ["http", "GET / HTTP/1.1", "-"]),
        ('a "" b', ["a", "", "b"]),
        ("a  b", ["a", "", "b"]),
        ('u "Mozilla "evil" agent" - -', ["u", 'Mozilla "evil" agent', "-", "-"]),
        ('r "GET /x" HTTP/1.1" "ua"', ["r", 'GET /x" HTTP/1.1', "ua"]),
        ('x "a" "b"', ["x", "a", "b"]),
    ],
)
def test_tokenize(line: str, fields: list[str]) -> None:
    assert tokenize(line) == fields


@pytest.mark.parametrize("line", ['a "unterminated b', '"-"1 x'])
def test_untokenizable(line: str) -> None:
    assert tokenize(line) is None


def test_decode_line_escapes_bytes_like_alb() -> None:
    assert decode_line(b"caf\xc3\xa9 \xff\r") == "café \\xff"
