"""The straightforward implementation alb502 is measured against.

AWS's own Athena regex applied line by line in Python (``athena_regex``),
the rows collected into pyarrow, written as one zstd Parquet file: what a
team would write first. Lines the regex does not match are counted as
rejects, as AWS's table would show them as all-null rows.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from alb502.dev.athena_regex import parse_line
from alb502.fields import AWS_COLUMNS

_SCHEMA = pa.schema(AWS_COLUMNS)


def process_with_regex(source: Path, out: Path) -> tuple[int, int]:
    """Parse ``source`` (.log.gz) with AWS's regex; return (lines, rejects)."""
    columns: dict[str, list[object]] = {name: [] for name in _SCHEMA.names}
    lines = rejects = 0
    with gzip.open(source, "rt", encoding="utf-8", errors="backslashreplace") as text:
        for line in text:
            lines += 1
            row = parse_line(line.rstrip("\n"))
            if row is None:
                rejects += 1
                continue
            for name, value in row.items():
                columns[name].append(value)
    pq.write_table(pa.table(columns, schema=_SCHEMA), out, compression="zstd")
    return lines, rejects
