"""Glue (Hive) column definitions generated from the writer's Arrow schemas.

The tables must describe exactly what the Parquet writer writes, so they are
derived from ``alb502.fields`` instead of being typed a second time.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from alb502.fields import ALB_LOGS_SCHEMA, PARTITION_COLUMN, REJECTS_SCHEMA

#: The Hive type Athena reads a Parquet column of each Arrow type as. Athena
#: reads Parquet timestamps at millisecond precision; the writer stores UTC
#: instants, which Hive's ``timestamp`` holds as is.
_GLUE_TYPES: tuple[tuple[Callable[[pa.DataType], bool], str], ...] = (
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "string"),
    (pa.types.is_boolean, "boolean"),
    (pa.types.is_int8, "tinyint"),
    (pa.types.is_int16, "smallint"),
    (pa.types.is_int32, "int"),
    (pa.types.is_int64, "bigint"),
    (pa.types.is_float32, "float"),
    (pa.types.is_float64, "double"),
    (pa.types.is_timestamp, "timestamp"),
    (pa.types.is_date32, "date"),
)


def glue_type(data_type: pa.DataType) -> str:
    """The Hive type Athena reads a Parquet column of this Arrow type as."""
    for matches, name in _GLUE_TYPES:
        if matches(data_type):
            return name
    # Anything else needs a deliberate mapping (and a test), not a guess.
    raise TypeError(f"no Glue type for Arrow type {data_type}")


def glue_columns(schema: pa.Schema) -> list[dict[str, str]]:
    """``[{"name": ..., "type": ...}]`` for every column of ``schema``, in order."""
    if PARTITION_COLUMN in schema.names:
        raise ValueError(f"{PARTITION_COLUMN!r} is a partition key, not a file column")
    return [{"name": f.name, "type": glue_type(f.type)} for f in schema]


ALB_LOGS_COLUMNS = glue_columns(ALB_LOGS_SCHEMA)
REJECTS_COLUMNS = glue_columns(REJECTS_SCHEMA)
