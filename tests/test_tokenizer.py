"""The per-line fallback tokenizer."""

from __future__ import annotations

import tracemalloc

import pytest

from alb502.tokenizer import Field, decode_line, tokenize, tokenize_fields


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


def test_tokenize_fields_says_which_were_quoted() -> None:
    assert tokenize_fields('a "b c" ""') == [
        Field("a", quoted=False),
        Field("b c", quoted=True),
        Field("", quoted=True),
    ]


@pytest.mark.parametrize("filler", ["x", "x ", '" x', 'a"'])
def test_a_long_line_costs_memory_in_proportion_to_itself(filler: str) -> None:
    # Issue 12, item 5: the regex tokenizer kept ~145 bytes per byte of a
    # quoted field (a 50 MiB line took 7.2 GB). Allocations are measured,
    # not time: a few copies of the line at most.
    line = 'http "' + filler * (1 << 20) + '" - "ua" end'
    tracemalloc.start()
    try:
        fields = tokenize(line)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fields is not None
    assert peak < 4 * len(line)
