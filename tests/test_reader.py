"""Reader: gzip or plain, local, streamed in whole lines; clear errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from alb502.errors import InputError
from alb502.reader import iter_chunks, parse_s3_uri, read_chunks


def lines_of(path: Path, chunk_size: int = 64) -> list[str]:
    out: list[str] = []
    for chunk in read_chunks(str(path), chunk_size=chunk_size):
        text = chunk.data.decode()
        got = text.split("\n")
        if text.endswith("\n"):
            got.pop()
        assert len(got) == chunk.lines
        assert chunk.first_line == len(out) + 1
        out += got
    return out


LINES = [f"line {i} " + "x" * (i % 7) for i in range(100)] + ["a much longer line " * 20]


def test_plain_and_gzip_give_the_same_lines(tmp_path: Path) -> None:
    text = "\n".join(LINES) + "\n"
    (tmp_path / "a.log").write_text(text)
    with gzip.open(tmp_path / "a.log.gz", "wt") as out:
        out.write(text)
    assert lines_of(tmp_path / "a.log") == LINES
    assert lines_of(tmp_path / "a.log.gz") == LINES


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "named.log", "wt") as out:
        out.write("one\ntwo\n")
    assert lines_of(tmp_path / "named.log") == ["one", "two"]


def test_last_line_without_newline_and_lines_longer_than_a_chunk(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_text("short\n" + "y" * 1000 + "\nend")
    assert lines_of(path, chunk_size=16) == ["short", "y" * 1000, "end"]


def test_empty_objects(tmp_path: Path) -> None:
    (tmp_path / "zero.log.gz").write_bytes(b"")
    with gzip.open(tmp_path / "empty.log.gz", "wb"):
        pass
    assert list(read_chunks(str(tmp_path / "zero.log.gz"))) == []
    assert list(read_chunks(str(tmp_path / "empty.log.gz"))) == []


def test_multi_member_gzip(tmp_path: Path) -> None:
    path = tmp_path / "m.log.gz"
    path.write_bytes(gzip.compress(b"a\nb\n") + gzip.compress(b"c\n"))
    assert lines_of(path) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"plain text, not gzip\n", "not gzip"),
        (gzip.compress(b"".join(b"%d\n" % i for i in range(50_000)))[:5000], "corrupt gzip data"),
        (gzip.compress(b"x\n")[:10] + b"\x00" * 40, "corrupt gzip data"),
    ],
)
def test_unusable_gzip_is_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.log.gz"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as error:
        list(read_chunks(str(path)))
    assert "\n" not in str(error.value)
    assert str(path) in str(error.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        list(read_chunks(str(tmp_path / "nope.log.gz")))


def test_chunks_never_split_a_line() -> None:
    class Stream:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def read(self, size: int = -1) -> bytes:
            head, self.data = self.data[:size], self.data[size:]
            return head

    data = b"".join(f"{i}:{'z' * (i % 13)}\n".encode() for i in range(500))
    chunks = list(iter_chunks(Stream(data), "mem", chunk_size=37))
    assert b"".join(c.data for c in chunks) == data
    assert all(c.data.endswith(b"\n") for c in chunks)
    assert sum(c.lines for c in chunks) == 500


def test_parse_s3_uri() -> None:
    location = parse_s3_uri("s3://bucket/AWSLogs/1/x.log.gz")
    assert (location.bucket, location.key) == ("bucket", "AWSLogs/1/x.log.gz")
    assert parse_s3_uri("s3://bucket").key == ""
    with pytest.raises(InputError):
        parse_s3_uri("s3:///key")
