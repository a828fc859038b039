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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol, cast

from isal import igzip, isal_zlib

from alb502.errors import InputError

#: Bytes handed to the parser at a time (about 13k lines). Big enough that
#: the per-call cost of the compute kernels stays small (4 MiB was 6% slower
#: on the 200k-line bench object), small enough that memory stays flat.
CHUNK_SIZE = 8 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
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


def s3_client() -> Any:
    """A boto3 S3 client; the endpoint comes from ``AWS_ENDPOINT_URL`` as usual.

    Cached, so warm Lambda invocations reuse connections; keyed on the
    endpoint and region settings, so a changed environment (tests, the
    local pipeline) gets a client of its own.
    """
    return _s3_client(
        os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"),
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
    )


@functools.lru_cache(maxsize=4)
def _s3_client(endpoint: str | None, region: str | None) -> Any:
    import boto3

    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=region)


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


def open_object(source: str, *, client: Any = None) -> IO[bytes] | _Readable:
    """Open ``source`` for reading raw (possibly compressed) bytes."""
    if source.startswith("s3://"):
        location = parse_s3_uri(source)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = (client or s3_client()).get_object(Bucket=location.bucket, Key=location.key)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            raise InputError(f"{source}: cannot read S3 object ({code})") from error
        except BotoCoreError as error:
            raise InputError(f"{source}: cannot read S3 object ({error})") from error
        return cast(_Readable, response["Body"])
    try:
        return open(source, "rb")
    except FileNotFoundError as error:
        raise InputError(f"{source}: no such file") from error
    except IsADirectoryError as error:
        raise InputError(f"{source}: is a directory") from error
    except OSError as error:
        raise InputError(f"{source}: cannot open ({error.strerror or error})") from error


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
        yield Chunk(whole, next_line, lines)
        next_line += lines
    if carry:
        yield Chunk(carry, next_line, 1)


def read_chunks(
    source: str, *, client: Any = None, chunk_size: int | None = None
) -> Iterator[Chunk]:
    """Open, decompress and chunk one object. Raises :class:`InputError`."""
    raw = open_object(source, client=client)
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
