"""The bench's floor does the work it claims: every line, every column, the writer's settings."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from alb502.dev.traffic import generate_lines, write_object
from alb502.writer import PLAIN_COLUMNS

FLOOR = Path(__file__).resolve().parent.parent / "benchmarks" / "floor.py"


def _floor_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_floor", FLOOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_floor_writes_every_line_as_strings_with_the_writer_settings(tmp_path: Path) -> None:
    floor = _floor_module()
    lines = list(generate_lines(start=datetime(2026, 11, 20, 12, tzinfo=UTC), lines=3_000, seed=5))
    source = tmp_path / "object.log.gz"
    write_object(source, lines)
    out = tmp_path / "floor.parquet"

    rows, skipped = floor.to_parquet(source, out)

    assert rows + skipped == len(lines)
    assert skipped <= len(lines) // 100
    table = pq.read_table(out)
    assert table.num_rows == rows
    assert table.column_names[:4] == ["type", "time", "elb", "client_port"]
    assert all(field.type == pa.string() for field in table.schema)
    assert table.column("elb")[0].as_py() == lines[0].split(" ")[2]
    meta = pq.ParquetFile(out).metadata.row_group(0)
    encodings = {
        meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)
    }
    assert "PLAIN_DICTIONARY" not in encodings["time"] and "RLE_DICTIONARY" not in encodings["time"]
    assert any("DICTIONARY" in e for e in encodings["elb"])
    assert "time" in PLAIN_COLUMNS
    assert meta.column(0).compression == "ZSTD"
