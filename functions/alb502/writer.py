"""Write stage: the Parquet lake, locally or in S3, atomically per input object.

Layout (``layout.partition_path``): ``alb_logs/day=YYYY-MM-DD/<stem>.parquet``,
its tagged rows again in ``alb_errors/day=YYYY-MM-DD/<stem>.parquet``, and
``alb_log_rejects/day=YYYY-MM-DD/<stem>.parquet``, zstd-compressed. Files
are staged and only moved (local) or uploaded (S3) into place once the whole
object has been read, so a reader never sees a half file; deterministic
names make a re-run overwrite.

All or nothing per object, re-deliveries included: after a failure the lake
holds the complete set of files it held before, or the complete new set,
never a mix and never less. A file about to be replaced is first set aside
(S3: a server-side CopyObject; local: a hard link) under
``_alb502_previous/<attempt>/``, outside every table's location so Athena
never reads it; a failure puts each set-aside file back and removes the new
files that had none, success drops the set-aside copies. Chosen over S3
conditional writes (``IfNoneMatch``/``IfMatch``): they refuse an overwrite
but cannot give back what an overwrite replaced, and a re-delivery must
overwrite. Chosen over bucket versioning: the lake may be any bucket (or a
directory). The cost is one CopyObject attempt per file (and one more plus
a DeleteObject when it existed), a few milliseconds each.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alb502.errors import Deadline
from alb502.fields import (
    ALB_ERRORS_TABLE,
    ALB_LOGS_SCHEMA,
    ALB_LOGS_TABLE,
    REJECTS_SCHEMA,
    REJECTS_TABLE,
)
from alb502.layout import PREVIOUS_PREFIX, origin, partition_path
from alb502.reader import parse_s3_uri, s3_client

#: Rows per Parquet row group (a few MB compressed): large enough for Athena
#: to read efficiently, small enough that the rows buffered for one, and the
#: last one left to encode when the object ends, stay small.
ROW_GROUP_ROWS = 32_768
#: Near-unique columns: dictionary encoding would only cost time there.
#: Every other column repeats a lot within an object and gets a dictionary
#: (the processing times too: ALB writes them to the millisecond, and a
#: dictionary made them both faster to write and 2-4x smaller).
PLAIN_COLUMNS: frozenset[str] = frozenset(
    {
        "time",
        "client_port",
        "received_bytes",
        "sent_bytes",
        "request_url",
        "trace_id",
        "request_creation_time",
        "conn_trace_id",
        "request_ts",
        "source_line",
        "raw_line",
    }
)
#: Row-group min/max statistics let Athena skip row groups on these filters;
#: on long free-text columns they would cost time and space for nothing.
STATISTICS_COLUMNS: frozenset[str] = frozenset(
    {
        "elb",
        "elb_status_code",
        "target_status_code",
        "target_ip",
        "request_ts",
        "error_source",
        "error_reason",
        "cause",
        "source_line",
        "reason",
    }
)
_PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd"}
#: Day files an object keeps open at once. An ALB object is one node's five
#: minutes, a day or two at most; a damaged one can name thousands of days,
#: and an open writer per (table, day) meant 8,700 writers and file
#: descriptors for 100k lines over 4,350 days. Rows of further days wait in
#: a spill and are written at the end, ``STRAY_DAYS_PER_PASS`` days at a time.
MAX_DAY_FILES = 16
#: Rows buffered over all open day files; beyond it the fullest is flushed.
MAX_PENDING_ROWS = 2 * ROW_GROUP_ROWS
#: Days written per pass over the spill of such rows (each pass reads it all;
#: Lambda allows 1,024 open files).
STRAY_DAYS_PER_PASS = 128


class _Spill:
    """Tables kept until the end of the object: the latest in memory, the rest on disk.

    Beyond ``ROW_GROUP_ROWS`` rows they are written to a staging file (lz4:
    read back once, minutes later, by this process), which keeps memory flat
    however many rows wait.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._memory: list[pa.Table] = []
        self._memory_rows = 0
        self._writer: pq.ParquetWriter | None = None

    def add(self, rows: pa.Table) -> None:
        if rows.num_rows == 0:
            return
        self.rows += rows.num_rows
        self._memory.append(rows)
        self._memory_rows += rows.num_rows
        if self._memory_rows >= ROW_GROUP_ROWS:
            self._spill()

    def _spill(self) -> None:
        rows = pa.concat_tables(self._memory)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, rows.schema, compression="lz4")
        self._writer.write_table(rows, row_group_size=ROW_GROUP_ROWS)
        self._memory.clear()
        self._memory_rows = 0

    def drain(self) -> Iterator[pa.Table]:
        """Everything added, in order, up to ``ROW_GROUP_ROWS`` rows at a time."""
        yield from self.read()
        self._memory.clear()
        self._memory_rows = 0

    def read(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """Everything added so far, in order (again on each call): no more may be added."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.path.exists():
            spilled = pq.ParquetFile(self.path)
            for batch in spilled.iter_batches(batch_size=ROW_GROUP_ROWS, columns=columns):
                yield pa.Table.from_batches([batch])
        if self._memory:
            rows = pa.concat_tables(self._memory)
            yield rows if columns is None else rows.select(columns)

    def close(self) -> None:
        """Let the staging file go (its directory is removed by the caller)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        self._memory.clear()


@dataclass
class _DayFile:
    """One output file being staged: its writer and the rows not yet flushed."""

    relative: str
    staged: Path
    #: None once the file is written and closed (its metadata let go).
    writer: pq.ParquetWriter | None
    pending: list[pa.Table] = field(default_factory=list)
    pending_rows: int = 0


class ObjectOutput:
    """The lake files of one input object, staged until :meth:`commit`.

    ``lake`` is a local directory or ``s3://bucket[/prefix]``.
    """

    def __init__(
        self,
        lake: str,
        stem: str,
        source_key: str,
        *,
        client: Any = None,
        encode_aside: bool = True,
    ) -> None:
        self.lake = lake
        self.stem = stem
        account_id, region = origin(source_key)
        self._per_object = {"source_key": source_key, "account_id": account_id, "region": region}
        self._client = client
        self._staging = Path(tempfile.mkdtemp(prefix="alb502-"))
        self._files: dict[tuple[str, str], _DayFile] = {}
        # Entries held for the end of the object, and rejects waiting for their day.
        self._held = _Spill(self._staging / "held.parquet")
        self._deferred_rejects = _Spill(self._staging / "rejects.parquet")
        # Rows of days beyond MAX_DAY_FILES, per table (a damaged object).
        self._strays: dict[str, _Spill] = {}
        self._pending_rows = 0
        # Parquet encoding runs on its own thread, beside parsing: a flush
        # hands a row group over and returns. One row group at a time, so
        # memory stays bounded and each file's row groups stay in order.
        # Without ``encode_aside`` (one core: ``alb502.cpu``) a flush encodes.
        self._encoder = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="alb502-write")
            if encode_aside
            else None
        )
        self._encoding: Future[None] | None = None

    # -- adding ---------------------------------------------------------------

    def add_rows(self, rows: pa.Table) -> None:
        """Queue parsed, classified entries (``parser.PARSED_SCHEMA``) for their days."""
        if rows.num_rows:
            days = _days(rows.column("time"))
            self._add(ALB_LOGS_TABLE, ALB_LOGS_SCHEMA, rows, days)
            # The same tagged rows again, in the small table the error queries read.
            tagged = pc.is_valid(rows.column("cause"))
            if pc.any(tagged).as_py():
                self._add(
                    ALB_ERRORS_TABLE, ALB_LOGS_SCHEMA, rows.filter(tagged), days.filter(tagged)
                )

    def add_rejects(self, rejects: pa.Table, day: str) -> None:
        """Queue rejected lines; they carry no trusted time, so the caller names the day."""
        if rejects.num_rows:
            days = pa.repeat(pa.scalar(day), len(rejects))
            # One day per object: never a stray.
            self._add(REJECTS_TABLE, REJECTS_SCHEMA, rejects, days, strays=False)

    def hold(self, rows: pa.Table) -> None:
        """Keep entries aside until the end of the object, on disk, not in memory.

        During an outage most entries of an object can be waiting for the
        keep-alive rule: beyond ``ROW_GROUP_ROWS`` they are spilled, which
        keeps memory flat. :meth:`held` gives them back.
        """
        self._held.add(rows)

    def held(self) -> Iterator[pa.Table]:
        """The entries :meth:`hold` kept, up to ``ROW_GROUP_ROWS`` at a time."""
        yield from self._held.drain()

    def defer_rejects(self, rejects: pa.Table) -> None:
        """Keep rejected lines until their day is known (:meth:`file_rejects`).

        Spilled like held entries: an object of blank lines costs disk, not memory.
        """
        self._deferred_rejects.add(rejects)

    def file_rejects(self, day: str) -> int:
        """Queue every deferred reject for ``day``; return how many there were."""
        count = self._deferred_rejects.rows
        for rejects in self._deferred_rejects.drain():
            self.add_rejects(rejects, day)
        return count

    def flush(self) -> None:
        """Hand the entries buffered so far to the encoder now, as row groups of their own."""
        for out in self._files.values():
            self._flush(out)

    def _add(
        self, table: str, schema: pa.Schema, rows: pa.Table, days: pa.Array, *, strays: bool = True
    ) -> None:
        stray_rows = []
        for day, at in _by_day(days):
            key = (table, day)
            if strays and key not in self._files and len(self._files) >= MAX_DAY_FILES:
                stray_rows.append(at)
                continue
            # A day's own rows, taken (copied): a slice of a sorted copy of the
            # chunk would keep all of it alive while the file waits for more.
            part = rows if at is None else rows.take(at)
            out = self._file(table, schema, day)
            out.pending.append(part)
            out.pending_rows += part.num_rows
            self._pending_rows += part.num_rows
            if out.pending_rows >= ROW_GROUP_ROWS:
                self._flush(out)
            elif self._pending_rows > MAX_PENDING_ROWS:
                # Rows spread over several days: the fullest file takes a smaller row group.
                self._flush(max(self._files.values(), key=lambda f: f.pending_rows))
        if stray_rows:
            if table not in self._strays:
                self._strays[table] = _Spill(self._staging / f"strays-{table}.parquet")
            # One take for all of them, not a table per day (each with its
            # own small buffers: 160 MB for 8,000 of them).
            at_all = [a for a in stray_rows if a is not None]
            self._strays[table].add(
                rows if len(at_all) < len(stray_rows) else rows.take(pa.concat_arrays(at_all))
            )

    def _file(self, table: str, schema: pa.Schema, day: str) -> _DayFile:
        key = (table, day)
        if key not in self._files:
            relative = partition_path(table, day, self.stem)
            staged = self._staging / relative
            staged.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(
                staged,
                schema,
                use_dictionary=[name for name in schema.names if name not in PLAIN_COLUMNS],
                write_statistics=[name for name in schema.names if name in STATISTICS_COLUMNS],
                **_PARQUET_OPTIONS,
            )
            self._files[key] = _DayFile(relative, staged, writer)
        return self._files[key]

    def _flush(self, out: _DayFile) -> None:
        if not out.pending_rows:
            return
        writer = out.writer
        if writer is None:  # written and closed: no row can come after
            raise RuntimeError(f"{out.relative}: rows after the file was closed")
        self._pending_rows -= out.pending_rows
        rows = pa.concat_tables(out.pending)
        schema = writer.schema
        # These are the same on every row of an object: added only now, per row group.
        for name, value in self._per_object.items():
            if name not in schema.names:
                continue
            column = pa.repeat(pa.scalar(value, schema.field(name).type), len(rows))
            if name in rows.column_names:
                rows = rows.set_column(rows.schema.get_field_index(name), name, column)
            else:
                rows = rows.append_column(name, column)
        rows = rows.select(schema.names).cast(schema)
        self._wait_encoding()
        if self._encoder is None:
            writer.write_table(rows, len(rows))
        else:
            self._encoding = self._encoder.submit(writer.write_table, rows, len(rows))
        out.pending.clear()
        out.pending_rows = 0

    def _wait_encoding(self) -> None:
        """Wait for the row group being encoded; its error, if any, is raised here."""
        if self._encoding is not None:
            encoding, self._encoding = self._encoding, None
            encoding.result()

    # -- finishing ------------------------------------------------------------

    def commit(self, should_stop: Callable[[], bool] | None = None) -> list[str]:
        """Put every staged file in place; return where they went.

        All or nothing (see the module's docstring). ``should_stop`` is asked
        before each file is placed: once it is true, no further upload starts
        (nor goes on: S3 uploads are stopped between parts) and the lake is
        given back what it held, with :class:`Deadline` raised.
        """
        self._held.close()
        self._deferred_rejects.close()
        try:
            for table, strays in self._strays.items():
                self._write_strays(table, strays)
            for out in self._files.values():
                self._flush(out)
            self._wait_encoding()
            for out in self._files.values():
                _close(out)
            return _replace_all(
                self._store(),
                [(out.staged, out.relative) for out in self._files.values()],
                should_stop,
            )
        finally:
            self._stop_encoder()
            shutil.rmtree(self._staging, ignore_errors=True)

    def _write_strays(self, table: str, strays: _Spill) -> None:
        """The rows of the days that found no file open: ``STRAY_DAYS_PER_PASS``
        days at a time, each pass reading the spill again, each file closed once written."""
        days: set[str] = set()
        for times in strays.read(columns=["time"]):
            days.update(pc.unique(_days(times.column("time"))).to_pylist())
        ordered = sorted(days)
        for start in range(0, len(ordered), STRAY_DAYS_PER_PASS):
            group = pa.array(ordered[start : start + STRAY_DAYS_PER_PASS], pa.string())
            written = []
            for rows in strays.read():
                row_days = _days(rows.column("time"))
                wanted = pc.is_in(row_days, value_set=group)
                if pc.any(wanted).as_py():
                    self._add(
                        table,
                        ALB_LOGS_SCHEMA,
                        rows.filter(wanted),
                        row_days.filter(wanted),
                        strays=False,
                    )
            for day in group.to_pylist():
                out = self._files[(table, day)]
                self._flush(out)
                written.append(out)
            self._wait_encoding()
            for out in written:
                _close(out)
        strays.close()

    def abort(self) -> None:
        """Forget everything staged: nothing reaches the lake."""
        self._stop_encoder()
        self._held.close()
        self._deferred_rejects.close()
        for strays in self._strays.values():
            strays.close()
        for out in self._files.values():
            # The staged file is removed just below, whatever state it is in.
            with contextlib.suppress(Exception):
                _close(out)
        shutil.rmtree(self._staging, ignore_errors=True)

    def _stop_encoder(self) -> None:
        # A row group being encoded cannot be interrupted: let it end first.
        if self._encoder is not None:
            self._encoder.shutdown(cancel_futures=True)

    def _store(self) -> _Store:
        if self.lake.startswith("s3://"):
            return _S3Store(self.lake, self._client or s3_client())
        return _LocalStore(Path(self.lake))


class _Store(Protocol):
    """Where lake files go: the few operations an all-or-nothing commit needs."""

    def put(self, staged: Path, relative: str, should_stop: Callable[[], bool] | None) -> str:
        """Place one file (atomically: readers see the old or the new one); return where."""
        ...

    def set_aside(self, relative: str, aside: str) -> bool:
        """Keep a copy of the file at ``relative`` under ``aside``; False if there is none."""
        ...

    def put_back(self, aside: str, relative: str) -> None: ...

    def remove(self, relative: str) -> None: ...

    def discard(self, asides: list[str]) -> None:
        """Drop set-aside copies (best effort: they live outside every table)."""
        ...


def _replace_all(
    store: _Store, files: list[tuple[Path, str]], should_stop: Callable[[], bool] | None
) -> list[str]:
    """Place ``files`` (staged path, lake-relative path) all or nothing."""
    attempt = f"{PREVIOUS_PREFIX}/{uuid.uuid4().hex}"
    # Lake-relative path -> its set-aside copy (None: nothing was there).
    touched: dict[str, str | None] = {}
    placed: list[str] = []
    try:
        for staged, relative in files:
            if should_stop is not None and should_stop():
                raise Deadline(f"{relative}: not written, time ran out")
            copy = f"{attempt}/{relative}"
            touched[relative] = copy if store.set_aside(relative, copy) else None
            placed.append(store.put(staged, relative, should_stop))
    except BaseException:
        # The file being placed when the error came is undone too: its
        # upload may have completed before the error was raised.
        for relative, kept in reversed(touched.items()):
            try:
                if kept is None:
                    store.remove(relative)
                else:
                    store.put_back(kept, relative)
            except Exception:  # best effort: the original error is what matters
                continue
        store.discard([kept for kept in touched.values() if kept is not None])
        raise
    store.discard([kept for kept in touched.values() if kept is not None])
    return placed


class _StopUpload(Exception):
    """Raised from an upload's progress callback to stop it: time ran out."""


class _S3Store:
    def __init__(self, lake: str, client: Any) -> None:
        location = parse_s3_uri(lake)
        self.bucket = location.bucket
        self.prefix = location.key.strip("/")
        self.client = client

    def _key(self, relative: str) -> str:
        return "/".join(p for p in (self.prefix, relative) if p)

    def put(self, staged: Path, relative: str, should_stop: Callable[[], bool] | None) -> str:
        key = self._key(relative)

        def progress(_bytes: int) -> None:
            if should_stop is not None and should_stop():
                raise _StopUpload(key)

        try:
            # An S3 object appears whole when its upload completes.
            self.client.upload_file(str(staged), self.bucket, key, Callback=progress)
        except _StopUpload:
            raise Deadline(f"s3://{self.bucket}/{key}: upload stopped, time ran out") from None
        except Exception as error:
            # s3transfer may wrap the callback's exception in its own.
            if isinstance(error.__cause__ or error.__context__, _StopUpload):
                raise Deadline(f"s3://{self.bucket}/{key}: upload stopped, time ran out") from None
            raise
        return f"s3://{self.bucket}/{key}"

    def set_aside(self, relative: str, aside: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.copy_object(
                Bucket=self.bucket,
                Key=self._key(aside),
                CopySource={"Bucket": self.bucket, "Key": self._key(relative)},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return False
            raise
        return True

    def put_back(self, aside: str, relative: str) -> None:
        self.client.copy_object(
            Bucket=self.bucket,
            Key=self._key(relative),
            CopySource={"Bucket": self.bucket, "Key": self._key(aside)},
        )

    def remove(self, relative: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(relative))

    def discard(self, asides: list[str]) -> None:
        for aside in asides:
            with contextlib.suppress(Exception):
                self.client.delete_object(Bucket=self.bucket, Key=self._key(aside))


class _LocalStore:
    def __init__(self, lake: Path) -> None:
        self.lake = lake

    def put(self, staged: Path, relative: str, should_stop: Callable[[], bool] | None) -> str:
        target = self.lake / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copy next to the target under a hidden name, then rename: atomic.
        hidden = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            shutil.move(staged, hidden)
            os.replace(hidden, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(hidden)
        return str(target)

    def set_aside(self, relative: str, aside: str) -> bool:
        target, kept = self.lake / relative, self.lake / aside
        if not target.exists():
            return False
        kept.parent.mkdir(parents=True, exist_ok=True)
        try:
            # A second name for the same file: nothing is copied, and the
            # rename in put() leaves this name on the old content.
            os.link(target, kept)
        except OSError:
            shutil.copy2(target, kept)
        return True

    def put_back(self, aside: str, relative: str) -> None:
        os.replace(self.lake / aside, self.lake / relative)

    def remove(self, relative: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.lake / relative)

    def discard(self, asides: list[str]) -> None:
        for aside in asides:
            with contextlib.suppress(OSError):
                os.remove(self.lake / aside)
        # The attempt's directories, then the top one if no other attempt uses it.
        for aside in asides:
            parent = (self.lake / aside).parent
            while parent != self.lake:
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent


def _close(out: _DayFile) -> None:
    if out.writer is not None:
        writer, out.writer = out.writer, None
        writer.close()


def _by_day(days: pa.Array) -> Iterator[tuple[str, pa.Array | None]]:
    """Each day of ``days`` with the positions of its rows, in their order;
    ``None`` when every row is of that day.

    One sort rather than a filter per day: a damaged object can name
    thousands of days (a filter per day cost 142 s for 100k lines).
    """
    unique = pc.unique(days)
    if len(unique) == 1:
        yield unique[0].as_py(), None
        return
    order = pc.sort_indices(days)  # stable: lines keep their order within a day
    counts = pc.value_counts(days.take(order))  # in order of first appearance: sorted
    start = 0
    for day, count in zip(
        counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
    ):
        yield day, order.slice(start, count)
        start += count


def _days(time: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The UTC day (``YYYY-MM-DD``) of each entry: ALB's ``time`` starts with it."""
    return pc.utf8_slice_codeunits(time, 0, 10)
