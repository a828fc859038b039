"""Glue (Hive) column definitions generated from the writer's Arrow schemas.

The tables must describe exactly what the Parquet writer writes, so they are
derived from ``alb502.fields`` instead of being typed a second time.
"""

from __future__ import annotations

import pyarrow as pa

from alb502.fields import ALB_LOGS_SCHEMA, PARTITION_COLUMN, REJECTS_SCHEMA


def glue_type(data_type: pa.DataType) -> str:
    """The Hive type Athena reads a Parquet column of this Arrow type as."""
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "string"
    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_int8(data_type):
        return "tinyint"
    if pa.types.is_int16(data_type):
        return "smallint"
    if pa.types.is_int32(data_type):
        return "int"
    if pa.types.is_int64(data_type):
        return "bigint"
    if pa.types.is_float32(data_type):
        return "float"
    if pa.types.is_float64(data_type):
        return "double"
    if pa.types.is_timestamp(data_type):
        # Athena reads Parquet timestamps at millisecond precision; the
        # writer stores UTC instants, which Hive's `timestamp` holds as is.
        return "timestamp"
    if pa.types.is_date32(data_type):
        return "date"
    # Anything else needs a deliberate mapping (and a test), not a guess.
    raise TypeError(f"no Glue type for Arrow type {data_type}")


def glue_columns(schema: pa.Schema) -> list[dict[str, str]]:
    """``[{"name": ..., "type": ...}]`` for every column of ``schema``, in order."""
    if PARTITION_COLUMN in schema.names:
        raise ValueError(f"{PARTITION_COLUMN!r} is a partition key, not a file column")
    return [{"name": f.name, "type": glue_type(f.type)} for f in schema]


ALB_LOGS_COLUMNS = glue_columns(ALB_LOGS_SCHEMA)
REJECTS_COLUMNS = glue_columns(REJECTS_SCHEMA)
