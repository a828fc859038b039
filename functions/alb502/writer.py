"""Write stage: the Parquet lake, locally or in S3, atomically per input object.

Layout (``layout.partition_path``): ``alb_logs/day=YYYY-MM-DD/<stem>.parquet``,
its tagged rows again in ``alb_errors/day=YYYY-MM-DD/<stem>.parquet``, and
``alb_log_rejects/day=YYYY-MM-DD/<stem>.parquet``, zstd-compressed. Files
are staged and only moved (local) or uploaded (S3) into place once the whole
object has been read, so a reader never sees a half file and a failed
object leaves nothing behind; deterministic names make a re-run overwrite.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alb502.fields import ALB_LOGS_SCHEMA, ALB_LOGS_TABLE, REJECTS_SCHEMA, REJECTS_TABLE
from alb502.layout import ALB_ERRORS_TABLE, origin, partition_path
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


@dataclass
class _DayFile:
    """One output file being staged: its writer and the rows not yet flushed."""

    relative: str
    staged: Path
    writer: pq.ParquetWriter
    pending: list[pa.Table] = field(default_factory=list)
    pending_rows: int = 0


class ObjectOutput:
    """The lake files of one input object, staged until :meth:`commit`.

    ``lake`` is a local directory or ``s3://bucket[/prefix]``.
    """

    def __init__(self, lake: str, stem: str, source_key: str, *, client: Any = None) -> None:
        self.lake = lake
        self.stem = stem
        self.source_key = source_key
        account_id, region = origin(source_key)
        self._per_object = {"source_key": source_key, "account_id": account_id, "region": region}
        self._client = client
        self._staging = Path(tempfile.mkdtemp(prefix="alb502-"))
        self._files: dict[tuple[str, str], _DayFile] = {}
        # Entries held for the end of the object: the latest in memory, the rest spilled.
        self._holding: list[pa.Table] = []
        self._holding_rows = 0
        self._held: pq.ParquetWriter | None = None
        # Parquet encoding runs on its own thread, beside parsing: a flush
        # hands a row group over and returns. One row group at a time, so
        # memory stays bounded and each file's row groups stay in order.
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alb502-write")
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
            self._add(
                REJECTS_TABLE, REJECTS_SCHEMA, rejects, pa.repeat(pa.scalar(day), len(rejects))
            )

    def hold(self, rows: pa.Table) -> None:
        """Keep entries aside until the end of the object, on disk, not in memory.

        During an outage most entries of an object can be waiting for the
        keep-alive rule: beyond ``ROW_GROUP_ROWS`` they are spilled, which
        keeps memory flat. :meth:`held` gives them back.
        """
        if rows.num_rows == 0:
            return
        self._holding.append(rows)
        self._holding_rows += rows.num_rows
        if self._holding_rows >= ROW_GROUP_ROWS:
            self._spill()

    def _spill(self) -> None:
        rows = pa.concat_tables(self._holding)
        if self._held is None:
            # lz4: this file is read back once, minutes later, by this process.
            path = self._staging / "held.parquet"
            self._held = pq.ParquetWriter(path, rows.schema, compression="lz4")
        self._held.write_table(rows)
        self._holding.clear()
        self._holding_rows = 0

    def held(self) -> Iterator[pa.Table]:
        """The entries :meth:`hold` kept, up to ``ROW_GROUP_ROWS`` at a time."""
        if self._held is not None:
            self._held.close()
            self._held = None
            spilled = pq.ParquetFile(self._staging / "held.parquet")
            for batch in spilled.iter_batches(batch_size=ROW_GROUP_ROWS):
                yield pa.Table.from_batches([batch])
        if self._holding:
            yield pa.concat_tables(self._holding)
            self._holding.clear()
            self._holding_rows = 0

    def flush(self) -> None:
        """Hand the entries buffered so far to the encoder now, as row groups of their own."""
        for out in self._files.values():
            self._flush(out)

    def _add(self, table: str, schema: pa.Schema, rows: pa.Table, days: pa.Array) -> None:
        unique = pc.unique(days).to_pylist()
        for day in unique:
            part = rows if len(unique) == 1 else rows.filter(pc.equal(days, day))
            out = self._file(table, schema, day)
            out.pending.append(part)
            out.pending_rows += part.num_rows
            if out.pending_rows >= ROW_GROUP_ROWS:
                self._flush(out)

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
        rows = pa.concat_tables(out.pending)
        schema = out.writer.schema
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
        self._encoding = self._encoder.submit(out.writer.write_table, rows, len(rows))
        out.pending.clear()
        out.pending_rows = 0

    def _wait_encoding(self) -> None:
        """Wait for the row group being encoded; its error, if any, is raised here."""
        if self._encoding is not None:
            encoding, self._encoding = self._encoding, None
            encoding.result()

    # -- finishing ------------------------------------------------------------

    def commit(self) -> list[str]:
        """Put every staged file in place; return where they went."""
        if self._held is not None:
            self._held.close()
            self._held = None
        placed: list[str] = []
        try:
            for out in self._files.values():
                self._flush(out)
            self._wait_encoding()
            for out in self._files.values():
                out.writer.close()
            for out in self._files.values():
                placed.append(self._place(out))
        except BaseException:
            self._remove(placed)
            raise
        finally:
            self._encoder.shutdown(cancel_futures=True)
            shutil.rmtree(self._staging, ignore_errors=True)
        return placed

    def abort(self) -> None:
        """Forget everything staged: nothing reaches the lake."""
        # A row group being encoded cannot be interrupted: let it end first.
        self._encoder.shutdown(cancel_futures=True)
        if self._held is not None:
            with contextlib.suppress(Exception):
                self._held.close()
        for out in self._files.values():
            # The staged file is removed just below, whatever state it is in.
            with contextlib.suppress(Exception):
                out.writer.close()
        shutil.rmtree(self._staging, ignore_errors=True)

    def _place(self, out: _DayFile) -> str:
        if self.lake.startswith("s3://"):
            location = parse_s3_uri(self.lake)
            key = "/".join(p for p in (location.key.strip("/"), out.relative) if p)
            # An S3 object appears whole when its upload completes.
            (self._client or s3_client()).upload_file(str(out.staged), location.bucket, key)
            return f"s3://{location.bucket}/{key}"
        target = Path(self.lake) / out.relative
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copy next to the target under a hidden name, then rename: atomic.
        hidden = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.move(out.staged, hidden)
        os.replace(hidden, target)
        return str(target)

    def _remove(self, placed: list[str]) -> None:
        for where in placed:
            try:
                if where.startswith("s3://"):
                    location = parse_s3_uri(where)
                    (self._client or s3_client()).delete_object(
                        Bucket=location.bucket, Key=location.key
                    )
                else:
                    os.remove(where)
            except Exception:  # best effort: the original error is what matters
                continue


def _days(time: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The UTC day (``YYYY-MM-DD``) of each entry: ALB's ``time`` starts with it."""
    return pc.utf8_slice_codeunits(time, 0, 10)
