"""Read stage: open a log object (local path or ``s3://``), stream it as
decompressed, newline-aligned chunks.

Memory stays flat whatever the object's size: one chunk (a few MiB) is held
at a time. gzip is recognised by its magic bytes, not the file name, and is
decompressed with ISA-L (``isal``), about three times faster than zlib.
"""

from __future__ import annotations

import functools
import io
import os
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol, cast

from isal import igzip, isal_zlib

from alb502.errors import Deadline, InputError, ReadInterrupted

#: Bytes handed to the parser at a time (about 13k lines). Big enough that
#: the per-call cost of the compute kernels stays small (4 MiB was 6% slower
#: on the 200k-line bench object), small enough that memory stays flat.
CHUNK_SIZE = 8 * 1024 * 1024
#: Lines handed to the parser at a time, at most. Real entries are hundreds
#: of bytes, so a chunk holds far fewer; a run of blank or tiny lines (8 MiB
#: is 8M blank lines) would otherwise make one chunk of millions of rejects,
#: and memory grows with lines, not bytes (5M blank lines in one chunk
#: peaked at 1.5 GB).
MAX_CHUNK_LINES = 65_536
_GZIP_MAGIC = b"\x1f\x8b"
#: Attempts per S3 request (botocore "standard" retries) when a timeout is given.
S3_ATTEMPTS = 3
#: What a truncated or corrupt gzip stream raises while being read.
_GZIP_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    OSError,
    zlib.error,
    cast(type[BaseException], isal_zlib.error),
)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Whole lines of one object: ``data`` ends at a line end (or the object's end)."""

    data: bytes
    #: 1-based number of the first line of ``data`` in the object.
    first_line: int
    #: Number of lines in ``data``.
    lines: int


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    key: str


def parse_s3_uri(uri: str) -> S3Location:
    """Split ``s3://bucket/key`` (the key may be empty or a prefix)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise InputError(f"{uri}: no bucket in S3 URI")
    return S3Location(bucket, key)


def s3_folders(client: Any, bucket: str, prefix: str) -> list[str]:
    """The folder names right under ``prefix`` (a Delimiter listing), sorted."""
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/"
    )
    return sorted(
        common["Prefix"][len(prefix) :].rstrip("/")
        for page in pages
        for common in page.get("CommonPrefixes", [])
    )


def s3_objects(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object under ``prefix`` (ListObjectsV2 items: Key, Size, ETag...)."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def s3_client(*, timeout: float | None = None) -> Any:
    """A boto3 S3 client; the endpoint comes from ``AWS_ENDPOINT_URL`` as usual.

    ``timeout`` bounds each attempt's connect and read waits (seconds, whole
    seconds are used) and selects botocore's "standard" retry mode with
    ``S3_ATTEMPTS`` in all, so a caller with a deadline knows the longest a request
    can take; ``None`` keeps botocore's defaults. Cached, so warm Lambda
    invocations reuse connections; keyed on the endpoint, region and
    timeout, so a changed environment (tests, the local pipeline) gets a
    client of its own.
    """
    return _s3_client(
        os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"),
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        None if timeout is None else max(1, int(timeout)),
    )


@functools.lru_cache(maxsize=8)
def _s3_client(endpoint: str | None, region: str | None, timeout: int | None) -> Any:
    import boto3
    from botocore.config import Config

    config = None
    if timeout is not None:
        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"mode": "standard", "total_max_attempts": S3_ATTEMPTS},
        )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=region, config=config
    )


def reset_clients() -> None:
    """Forget the cached clients: for a process whose endpoint or credentials
    changed under the same environment values (tests that start and stop moto)."""
    _s3_client.cache_clear()


def aws_errors() -> tuple[type[Exception], ...]:
    """boto's exception classes, once boto is in use.

    Local runs never import boto (it costs a tenth of a second at start);
    until something has, none of its errors can be raised.
    """
    if "botocore" not in sys.modules:
        return ()
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, Boto3Error)


def open_object(
    source: str, *, client: Any = None, should_stop: Callable[[], bool] | None = None
) -> IO[bytes] | _Readable:
    """Open ``source`` for reading raw (possibly compressed) bytes.

    An S3 body raises :class:`ReadInterrupted` when the network fails under
    it, and :class:`Deadline` once ``should_stop()`` is true, checked before
    every read: a slow GET cannot outlive the time it was given.
    """
    if source.startswith("s3://"):
        location = parse_s3_uri(source)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = (client or s3_client()).get_object(Bucket=location.bucket, Key=location.key)
        except ClientError as error:
            raise _client_error(source, error) from error
        except _network_errors() as error:
            raise ReadInterrupted(
                f"{source}: cannot read S3 object ({_describe(error)})"
            ) from error
        except BotoCoreError as error:
            raise InputError(f"{source}: cannot read S3 object ({error})") from error
        return _S3Body(response["Body"], source, should_stop)
    try:
        return open(source, "rb")
    except FileNotFoundError as error:
        raise InputError(f"{source}: no such file") from error
    except IsADirectoryError as error:
        raise InputError(f"{source}: is a directory") from error
    except OSError as error:
        raise InputError(f"{source}: cannot open ({error.strerror or error})") from error


def _client_error(source: str, error: Any) -> InputError:
    """The error S3's refusal to serve an object means to the user."""
    code = error.response.get("Error", {}).get("Code", "error")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if status == 403 or code in ("AccessDenied", "403", "Forbidden"):
        # Without s3:ListBucket, S3 answers 403 for a key that does not exist:
        # the object may be missing just as well as forbidden.
        return InputError(f"{source}: cannot read S3 object ({code}: missing or not readable)")
    if (isinstance(status, int) and status >= 500) or code in _TRANSIENT_CODES:
        return ReadInterrupted(f"{source}: cannot read S3 object ({code})")
    return InputError(f"{source}: cannot read S3 object ({code})")


#: S3 error codes that say "not now" rather than "never".
_TRANSIENT_CODES = frozenset({"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"})


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a cut connection, a timeout or a short body raises under boto3.

    botocore's own classes (its StreamingBody turns urllib3's read timeout
    and protocol errors into them, and checks the body's length), http.client's,
    and OSError (sockets: reset, timed out).
    """
    from http.client import HTTPException

    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import (
        HTTPClientError,
        IncompleteReadError,
        ResponseStreamingError,
    )

    return (
        BotoConnectionError,
        HTTPClientError,
        IncompleteReadError,
        ResponseStreamingError,
        HTTPException,
        OSError,
    )


def _describe(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class _S3Body:
    """An S3 object's body: network failures become :class:`ReadInterrupted`.

    Wrapped under the gzip layer, so a cut GET or a read timeout is never
    taken for corrupt data, and above botocore, so its short-body check
    (``IncompleteReadError``) is translated too.
    """

    def __init__(
        self, body: _Readable, source: str, should_stop: Callable[[], bool] | None
    ) -> None:
        self._body = body
        self._source = source
        self._should_stop = should_stop
        self._errors = _network_errors()

    def read(self, size: int = -1, /) -> bytes:
        if self._should_stop is not None and self._should_stop():
            raise Deadline(f"{self._source}: stopped while reading, time ran out")
        try:
            return self._body.read(size)
        except self._errors as error:
            detail = _describe(error)
            raise ReadInterrupted(f"{self._source}: cannot read S3 object ({detail})") from error

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


class _Prepended(io.RawIOBase):
    """A stream with bytes already read put back in front (for the magic sniff)."""

    def __init__(self, head: bytes, stream: _Readable) -> None:
        super().__init__()
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            if size < 0:
                return head + self._stream.read()
            return head + self._stream.read(max(0, size - len(head)))
        return self._stream.read(size)


def decompressed(raw: _Readable, source: str) -> _Readable:
    """``raw`` decompressed when it is gzip; as is when it is plain text.

    A name ending in ``.gz`` must hold gzip: anything else is refused rather
    than parsed as text. An empty object is fine either way (0 lines).
    """
    head = raw.read(2)
    if not head:
        return _Prepended(b"", raw)
    if head == _GZIP_MAGIC:
        stream = io.BufferedReader(_Prepended(head, raw))
        return cast(_Readable, igzip.IGzipFile(fileobj=stream))  # type: ignore[no-untyped-call]
    if source.endswith(".gz"):
        raise InputError(f"{source}: not gzip (the name ends in .gz but the data is not gzip)")
    return _Prepended(head, raw)


def iter_chunks(stream: _Readable, source: str, chunk_size: int | None = None) -> Iterator[Chunk]:
    """Cut a decompressed stream into chunks of whole lines.

    A line longer than ``chunk_size`` simply makes its chunk longer: no line
    is ever split.
    """
    size = chunk_size or CHUNK_SIZE
    next_line = 1
    carry = b""
    while True:
        block = _read(stream, source, size)
        if not block:
            break
        end = block.rfind(b"\n")
        if end < 0:
            carry += block
            continue
        # One copy per chunk: the carried start of a line plus the block up
        # to its last line end.
        whole = b"".join((carry, memoryview(block)[: end + 1])) if carry else block[: end + 1]
        carry = block[end + 1 :]
        lines = whole.count(b"\n")
        if lines > MAX_CHUNK_LINES:
            for piece, piece_lines in _split_lines(whole, MAX_CHUNK_LINES):
                yield Chunk(piece, next_line, piece_lines)
                next_line += piece_lines
            continue
        yield Chunk(whole, next_line, lines)
        next_line += lines
    if carry:
        yield Chunk(carry, next_line, 1)


def _split_lines(data: bytes, most: int) -> Iterator[tuple[bytes, int]]:
    """``data`` (whole lines) as pieces of ``most`` lines, the last one fewer."""
    start = 0
    while start < len(data):
        end = _after_nth_line_end(data, start, most)
        piece = data[start:end]
        yield piece, piece.count(b"\n")
        start = end


def _after_nth_line_end(data: bytes, start: int, n: int) -> int:
    """Index just past the ``n``-th line end from ``start`` (or the end of ``data``).

    Galloping then bisecting with ``bytes.count`` (C speed): each search
    scans a few times the piece it finds, not the rest of the chunk.
    """
    width = n
    while start + width < len(data) and data.count(b"\n", start, start + width) < n:
        width *= 2
    low, high = start + n - 1, min(len(data), start + width)
    if data.count(b"\n", start, high) < n:
        return len(data)
    # The smallest end whose prefix holds n line ends.
    while low < high:
        middle = (low + high) // 2
        if data.count(b"\n", start, middle) >= n:
            high = middle
        else:
            low = middle + 1
    return low


def read_chunks(
    source: str,
    *,
    client: Any = None,
    chunk_size: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[Chunk]:
    """Open, decompress and chunk one object.

    Raises :class:`InputError` (:class:`ReadInterrupted` for a network
    failure) and :class:`Deadline` when ``should_stop()`` turns true mid-read.
    """
    raw = open_object(source, client=client, should_stop=should_stop)
    try:
        yield from iter_chunks(decompressed(raw, source), source, chunk_size)
    finally:
        close = getattr(raw, "close", None)
        if close is not None:
            close()


def _read(stream: _Readable, source: str, size: int) -> bytes:
    try:
        return stream.read(size)
    except _GZIP_ERRORS as error:
        detail = str(error) or type(error).__name__
        raise InputError(f"{source}: corrupt gzip data ({detail})") from error
