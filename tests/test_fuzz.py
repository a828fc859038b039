"""Seeded fuzzing (issue 12): mutated lines and broken containers lose nothing.

Every mutated line ends as exactly one row or one reject, the same one
whatever else its chunk holds; no exception escapes the parser or
``process_object`` but the documented ``InputError`` for an unusable
container, after which nothing is in the lake. Seeded and bounded: the
same cases run every time, in a few seconds.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from alb502.errors import InputError
from alb502.parser import ParsedChunk
from alb502.pipeline import process_object

from logtext import entry, parse_text

SEED = 20261201
#: Mutated lines per run; each is parsed alone and in three chunks.
LINES = 160

KEY = (
    "123456789012_elasticloadbalancing_us-east-1_app.shop.50dc6c495c0c9188_"
    "20261121T0005Z_10.0.1.5_fuzz.log.gz"
)


def _bases() -> list[bytes]:
    today = entry(time="2026-11-21T00:01:02.345678Z")
    return [
        today.encode(),
        entry(target="-", error_reason="LambdaThrottling", elb_status="503").encode(),
        entry(target_status="502", timings="0.000 0.005 -1").encode(),
        today.split(" TID_")[0].encode(),  # 29 fields: before conn_trace_id
        " ".join(today.split(" ")[:20]).encode(),  # an older, shorter format
    ]


_SEPARATORS = [b"\t", b"\r", b"\x0b", b"\x0c", "\x85".encode(), "\u2028".encode(), b"  "]


def _flip(rng: random.Random, line: bytes) -> bytes:
    at = rng.randrange(len(line))
    byte = rng.choice([b'"', b" ", b"\\", b"\xff", b"\xc3", b"\r", bytes([rng.randrange(256)])])
    return line[:at] + byte.replace(b"\n", b"?") + line[at + 1 :]


def _fields(rng: random.Random, line: bytes) -> bytes:
    fields = line.split(b" ")
    at = rng.randrange(len(fields))
    kind = rng.randrange(3)
    if kind == 0:
        del fields[at]
    elif kind == 1:
        fields.insert(at, fields[at])
    else:
        fields[at], fields[-1] = fields[-1], fields[at]
    return b" ".join(fields)


def _quote(rng: random.Random, line: bytes) -> bytes:
    at = rng.randrange(len(line) + 1)
    return line[:at] + rng.choice([b'"', b'""', b'" "', b' "']) + line[at:]


def _separator(rng: random.Random, line: bytes) -> bytes:
    spaces = [i for i, c in enumerate(line) if c == 0x20] or [len(line)]
    at = rng.choice(spaces)
    return line[:at] + rng.choice(_SEPARATORS) + line[at + 1 :]


def _long(rng: random.Random, line: bytes) -> bytes:
    at = rng.randrange(len(line))
    run = rng.choice([b"x", b"x ", b'" x', b'\\x"', b"\xe2\x80"]) * rng.randrange(1, 20_000)
    return line[:at] + run + line[at:]


def _time(rng: random.Random, line: bytes) -> bytes:
    year = rng.choice([b"0000", b"0001", b"1970", b"2014", b"2015", b"9999", b"2026"])
    fraction = rng.choice([b"", b".1", b".123456", b".1234567", b".123456789", b".1234567890"])
    return line.replace(b"2026-11-21T00:01:02.345678Z", year + b"-11-21T00:01:02" + fraction + b"Z")


def _truncate(rng: random.Random, line: bytes) -> bytes:
    return line[: rng.randrange(len(line))]


MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [
    _flip,
    _fields,
    _quote,
    _separator,
    _long,
    _time,
    _truncate,
]


def _mutated(rng: random.Random, count: int) -> list[bytes]:
    bases = _bases()
    lines = []
    for _ in range(count):
        line = rng.choice(bases)
        for _ in range(rng.randrange(1, 4)):
            line = rng.choice(MUTATIONS)(rng, line) or b"-"
        assert b"\n" not in line
        lines.append(line)
    return lines


def _outcomes(parsed: ParsedChunk, lines: int) -> list[str]:
    """Per line, in order: ``repr`` of its row less its number, or its reject reason.

    Each of the ``lines`` is in exactly one of the two tables.
    """
    found: dict[int, str] = {}
    for row in parsed.rows.to_pylist():
        number = row.pop("source_line")
        assert number not in found
        found[number] = repr(row)
    for reject in parsed.rejects.to_pylist():
        assert reject["source_line"] not in found
        found[reject["source_line"]] = f"reject {reject['reason']} {reject['raw_line']!r}"
    assert sorted(found) == list(range(1, lines + 1))
    return [found[number] for number in range(1, lines + 1)]


def _parse(lines: list[bytes]) -> ParsedChunk:
    return parse_text(b"".join(line + b"\n" for line in lines))


def test_mutated_lines_give_one_outcome_each_whatever_the_chunk() -> None:
    rng = random.Random(SEED)
    lines = _mutated(rng, LINES)
    alone = [_outcomes(_parse([line]), 1)[0] for line in lines]
    plain = _bases()[0]
    # All together; in reverse; each among 40 plain lines (the CSV regroup
    # path) after a non-UTF-8 line.
    together = _outcomes(_parse(lines), LINES)
    assert together == alone
    backwards = _outcomes(_parse(lines[::-1]), LINES)
    assert backwards[::-1] == alone
    for i in range(0, LINES, 5):
        chunk = [plain] * 40 + [b"\xff\xfe junk"] + [lines[i]] + [plain] * 2
        assert _outcomes(_parse(chunk), len(chunk))[41] == alone[i], lines[i]


def _gzip(lines: list[bytes]) -> bytes:
    return gzip.compress(b"".join(line + b"\n" for line in lines))


def _containers(rng: random.Random) -> list[tuple[str, bytes]]:
    good = _gzip(_mutated(rng, 50))
    other = _gzip(_bases())
    return [
        ("empty", b""),
        ("not gzip", b"http plain text, not gzip\n"),
        ("random bytes", rng.randbytes(2000)),
        ("gzip header only", good[:10]),
        ("truncated", good[: len(good) // 2]),
        ("truncated near the end", good[:-3]),
        ("concatenated members", good + other),
        ("member then junk", good + b"junk after the member"),
        ("flipped byte", good[:40] + bytes([good[40] ^ 0xFF]) + good[41:]),
        ("empty member", gzip.compress(b"")),
        ("no final newline", gzip.compress(b"\n".join(_bases()))),
        ("valid", good),
    ]


@pytest.mark.parametrize("case", range(12))
def test_broken_containers_fail_whole_or_lose_nothing(tmp_path: Path, case: int) -> None:
    name, data = _containers(random.Random(SEED))[case]
    source = tmp_path / "in" / KEY
    source.parent.mkdir()
    source.write_bytes(data)
    lake = tmp_path / "lake"
    try:
        report = process_object(str(source), str(lake))
    except InputError as error:
        assert "\n" not in str(error), name
        assert not lake.exists() or not any(p.is_file() for p in lake.rglob("*")), name
        return
    assert report.rows + report.rejects == report.lines, name
    written = [p for p in lake.rglob("*.parquet")] if lake.exists() else []
    assert bool(written) == bool(report.lines), name


def test_mutated_object_through_process_object(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    lines = _mutated(rng, LINES)
    source = tmp_path / "in" / KEY
    source.parent.mkdir()
    source.write_bytes(_gzip(lines))
    report = process_object(str(source), str(tmp_path / "lake"))
    assert report.lines == LINES
    assert report.rows + report.rejects == LINES
