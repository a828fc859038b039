"""Reader: gzip or plain, local, streamed in whole lines; clear errors."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from alb502 import reader
from alb502.errors import InputError, ReadInterrupted
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


# -- S3 reads: network failures are not corrupt data ---------------------------

GZIPPED = gzip.compress(b"".join(b"%d some log text\n" % i for i in range(20_000)))


class Cut:
    """An HTTP response body that serves ``data`` then fails as ``failure`` says."""

    def __init__(self, data: bytes, failure: Callable[[], BaseException] | None) -> None:
        self._data = io.BytesIO(data)
        self._failure = failure

    def read(self, size: int = -1) -> bytes:
        got = self._data.read(size)
        if not got and self._failure is not None:
            raise self._failure()
        return got

    def close(self) -> None:
        self._data.close()


class OneObject:
    """The part of an S3 client ``read_chunks`` uses: one ``get_object`` answer."""

    def __init__(self, body: Any = None, error: Exception | None = None) -> None:
        self._body = body
        self._error = error

    def get_object(self, **_: Any) -> dict[str, Any]:
        if self._error is not None:
            raise self._error
        return {"Body": self._body}


def cut_mid_stream(failure: Callable[[], BaseException] | None) -> OneObject:
    half = GZIPPED[: len(GZIPPED) // 2]
    return OneObject(StreamingBody(Cut(half, failure), content_length=len(GZIPPED)))


@pytest.mark.parametrize(
    "failure",
    [
        # The socket's read timeout; botocore turns it into its ReadTimeoutError.
        lambda: ReadTimeoutError(None, "", "Read timed out."),
        # The connection reset mid-body; botocore turns it into ResponseStreamingError.
        lambda: ProtocolError("Connection broken: ConnectionResetError(104)"),
        # The connection closed early: botocore's IncompleteReadError.
        None,
    ],
    ids=["read-timeout", "connection-reset", "short-body"],
)
def test_a_get_cut_mid_stream_is_a_retryable_read_error(
    failure: Callable[[], BaseException] | None,
) -> None:
    source = "s3://logs/AWSLogs/x.log.gz"
    with pytest.raises(ReadInterrupted, match="cannot read S3 object") as caught:
        list(read_chunks(source, client=cut_mid_stream(failure)))
    message = str(caught.value)
    assert message.startswith(source) and "corrupt" not in message and "\n" not in message
    assert caught.value.retryable


def test_corrupt_gzip_from_s3_still_says_corrupt() -> None:
    broken = GZIPPED[:10] + b"\x00" * 400
    client = OneObject(StreamingBody(Cut(broken, None), content_length=len(broken)))
    with pytest.raises(InputError, match="corrupt gzip data") as caught:
        list(read_chunks("s3://logs/x.log.gz", client=client))
    assert not isinstance(caught.value, ReadInterrupted)


def test_a_403_on_read_says_missing_or_not_readable() -> None:
    # Without s3:ListBucket, S3 answers a missing key with 403 AccessDenied.
    denied = ClientError(
        {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
        "GetObject",
    )
    with pytest.raises(InputError, match=r"missing or not readable") as caught:
        list(read_chunks("s3://logs/x.log.gz", client=OneObject(error=denied)))
    assert not caught.value.retryable


def test_s3_throttling_on_get_is_retryable() -> None:
    slow_down = ClientError(
        {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
        "GetObject",
    )
    with pytest.raises(ReadInterrupted, match=r"cannot read S3 object \(SlowDown\)"):
        list(read_chunks("s3://logs/x.log.gz", client=OneObject(error=slow_down)))


def test_runs_of_tiny_lines_are_cut_into_chunks_of_bounded_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 5M blank lines are 5 MB: one chunk by size, millions of rejects at once.
    monkeypatch.setattr(reader, "MAX_CHUNK_LINES", 1000)
    data = b"\n" * 4500 + b"a longer line\n" * 10 + b"\n" * 990 + b"last"

    class Stream:
        def __init__(self) -> None:
            self.data = data

        def read(self, size: int = -1) -> bytes:
            head, self.data = self.data[:size], self.data[size:]
            return head

    chunks = list(iter_chunks(Stream(), "mem", chunk_size=1 << 20))
    assert b"".join(c.data for c in chunks) == data
    assert [c.lines for c in chunks] == [1000] * 5 + [500, 1]
    assert [c.first_line for c in chunks] == [1, 1001, 2001, 3001, 4001, 5001, 5501]
    assert all(c.data.count(b"\n") == c.lines for c in chunks[:-1])
