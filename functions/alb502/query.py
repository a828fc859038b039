"""The saved queries (``infra/queries/*.sql``): load them, bind their time
window, and run them locally on DuckDB over a downloaded lake.

Each file is one Trino (Athena engine v3) statement. Its leading ``--``
lines are the description; one of them, ``-- parameters: since_day,
until_day, since, until``, names the statement's ``?`` placeholders in
order. Athena fills ``?`` placeholders from the console's "Enter
parameters" dialog, from ``EXECUTE ... USING`` or from
``start-query-execution --execution-parameters``
(docs.aws.amazon.com/athena/latest/ug/querying-with-prepared-statements-querying-using-execution-parameters.html);
each ``?`` is one positional value. The days come as plain ``'YYYY-MM-DD'``
strings so that ``day BETWEEN ? AND ?`` compares the partition column with
literals, the form partition pruning is sure to use; the instants as ISO
8601 UTC strings (``'2026-12-01T04:00:00Z'``) for ``from_iso8601_timestamp``.

Locally the same text is bound with the same values and transpiled from
Trino to DuckDB by sqlglot. duckdb and sqlglot are not runtime
dependencies of the Lambda function: only this module needs them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from alb502.errors import InputError
from alb502.fields import (
    ALB_ERRORS_TABLE,
    ALB_LOGS_TABLE,
    LAKE_TABLES,
    PARTITION_COLUMN,
)

#: Where the queries live in a checkout (the CDK app deploys the same files).
QUERIES_DIR = Path(__file__).resolve().parents[2] / "infra" / "queries"
#: The parameters a saved query may take, and what each means.
PARAMETERS = {
    "since_day": "UTC day of since, YYYY-MM-DD: the first day partition read",
    "until_day": "UTC day of until, YYYY-MM-DD: the last day partition read",
    "since": "start of the window (inclusive), ISO 8601 UTC",
    "until": "end of the window (exclusive), ISO 8601 UTC",
}
#: Without --since: this long before --until.
DEFAULT_WINDOW = timedelta(hours=24)

_PARAMETERS_LINE = re.compile(r"^parameters:\s*(?P<names>.*)$")
_RELATIVE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class SavedQuery:
    name: str
    description: str
    sql: str
    #: What each ``?`` placeholder is, in order (names of ``PARAMETERS``).
    parameters: tuple[str, ...]


@dataclass(frozen=True)
class Window:
    """A time window ``[since, until)``, in UTC."""

    since: datetime
    until: datetime

    def value(self, name: str) -> str:
        """The execution-parameter value of one of ``PARAMETERS``, as Athena takes it."""
        if name not in PARAMETERS:
            raise ValueError(f"unknown parameter {name!r}")
        moment = (self.since if name.startswith("since") else self.until).astimezone(UTC)
        if name.endswith("_day"):
            return f"'{moment:%Y-%m-%d}'"
        return f"'{moment:%Y-%m-%dT%H:%M:%SZ}'"

    def values(self, query: SavedQuery) -> list[str]:
        """Every placeholder's value, in order: Athena's ``--execution-parameters``."""
        return [self.value(name) for name in query.parameters]


def parse_query(path: Path) -> SavedQuery:
    """One ``.sql`` file: its description, text and parameter names."""
    text = path.read_text()
    description: list[str] = []
    parameters: tuple[str, ...] = ()
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        comment = line.removeprefix("--").strip()
        declared = _PARAMETERS_LINE.match(comment)
        if declared:
            parameters = tuple(n.strip() for n in declared["names"].split(",") if n.strip())
        description.append(comment)
    summary = " ".join(part for part in description if part)
    if not summary:
        raise ValueError(f"{path.name}: start with a -- comment describing the query")
    unknown = sorted(set(parameters) - set(PARAMETERS))
    if unknown:
        raise ValueError(f"{path.name}: unknown parameters {unknown}; known: {list(PARAMETERS)}")
    # Athena caps a named query's description at 1024 characters.
    return SavedQuery(path.stem, summary[:1024], text.strip() + "\n", parameters)


def load_saved_queries(directory: Path = QUERIES_DIR) -> list[SavedQuery]:
    """Every ``*.sql`` file under ``directory``, sorted by name."""
    return [parse_query(path) for path in sorted(directory.glob("*.sql"))]


def parse_duration(text: str) -> timedelta | None:
    """``90s``, ``30m``, ``2h``, ``1.5d`` or ``1w`` as a duration; None for anything else."""
    relative = _RELATIVE.match(text.strip())
    if relative is None:
        return None
    return timedelta(**{_UNITS[relative["unit"]]: float(relative["n"])})


def parse_time(text: str, now: datetime) -> datetime:
    """A ``--since``/``--until`` of the report and the saved queries: ``now``, a
    duration before ``now`` (see :func:`parse_duration`), or an ISO 8601 time or
    date (UTC unless it has an offset; a bare date is its midnight)."""
    given = text.strip()
    if given == "now":
        return now
    before = parse_duration(given)
    if before is not None:
        return now - before
    try:
        moment = datetime.fromisoformat(given.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{text!r} is not a time: use ISO 8601 (2026-12-01T04:00:00Z, 2026-12-01), "
            "now, or a duration before now (30m, 2h, 7d)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def window(since: str | None, until: str | None, *, now: datetime | None = None) -> Window:
    """The window ``--since``/``--until`` give: by default the 24 hours before until (now)."""
    now = now or datetime.now(UTC)
    end = parse_time(until, now=now) if until else now
    start = parse_time(since, now=now) if since else end - DEFAULT_WINDOW
    if start >= end:
        raise InputError(
            f"empty window: since {start:%Y-%m-%dT%H:%M:%SZ} is not before "
            f"until {end:%Y-%m-%dT%H:%M:%SZ}"
        )
    return Window(start, end)


def bind(query: SavedQuery, values: Window) -> str:
    """The query's Trino text with every ``?`` replaced by its value, as Athena binds it."""
    from sqlglot import TokenType
    from sqlglot.dialects.trino import Trino

    # The tokenizer, not a text search: a '?' inside a string or comment is no placeholder.
    tokens = [t for t in Trino().tokenize(query.sql) if t.token_type == TokenType.PLACEHOLDER]
    if len(tokens) != len(query.parameters):
        raise ValueError(
            f"{query.name}: {len(tokens)} '?' placeholders but "
            f"{len(query.parameters)} declared parameters"
        )
    bound = query.sql
    # From the end, so the earlier offsets stay valid.
    for token, name in reversed(list(zip(tokens, query.parameters, strict=True))):
        bound = bound[: token.start] + values.value(name) + bound[token.end + 1 :]
    return bound


def to_duckdb(query: SavedQuery, values: Window) -> str:
    """The DuckDB SQL of ``query`` over ``values``: what :func:`run` executes."""
    import sqlglot

    (duck,) = sqlglot.transpile(bind(query, values), read="trino", write="duckdb")
    return str(duck)


def tables_read(query: SavedQuery) -> set[str]:
    """The lake tables a query reads (CTE names are not tables)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(query.sql, read="trino")
    return {t.name for t in tree.find_all(exp.Table) if t.name in LAKE_TABLES}


def columns_read(query: SavedQuery) -> set[str]:
    """Every column name the query mentions (its own aliases too; callers
    keep those of a table's schema)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(query.sql, read="trino")
    return {column.name for column in tree.find_all(exp.Column)}


def scanned_bytes(query: SavedQuery, lake: Path, values: Window) -> int:
    """What Athena would bill the query on this lake: the compressed size of
    the Parquet column chunks it touches, in the day partitions of the window.

    Athena reads only the columns a query references from columnar files and
    only the partitions its ``day`` predicate selects; row-group statistics
    may skip more, so this is an upper bound of the data scanned.
    """
    import pyarrow.parquet as pq

    first, last = values.value("since_day").strip("'"), values.value("until_day").strip("'")
    referenced = columns_read(query)
    total = 0
    for table in tables_read(query):
        for folder in sorted((lake / table).glob(f"{PARTITION_COLUMN}=*")):
            day = folder.name.split("=", 1)[1]
            if not first <= day <= last:
                continue
            for path in sorted(folder.glob("*.parquet")):
                metadata = pq.ParquetFile(path).metadata
                names = metadata.schema.to_arrow_schema().names
                wanted = [i for i, name in enumerate(names) if name in referenced]
                for group in range(metadata.num_row_groups):
                    row_group = metadata.row_group(group)
                    total += sum(row_group.column(i).total_compressed_size for i in wanted)
    return total


def connect(lake: Path) -> Any:
    """A DuckDB connection with the lake's tables as views, in UTC like Athena."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in LAKE_TABLES:
        if not any((lake / table).glob("*/*.parquet")):
            continue
        glob = (lake / table / "*" / "*.parquet").as_posix().replace("'", "''")
        # day stays a string, as in the Glue table (DuckDB would guess DATE).
        con.execute(
            f'CREATE VIEW "{table}" AS SELECT * FROM read_parquet('
            f"'{glob}', hive_partitioning = true, "
            f"hive_types = {{'{PARTITION_COLUMN}': 'VARCHAR'}})"
        )
    return con


def run(query: SavedQuery, lake: Path, values: Window, *, con: Any = None) -> pa.Table:
    """Run a saved query over a local lake (as ``alb502 process`` or S3 wrote it)."""
    if not (lake / ALB_LOGS_TABLE).is_dir():
        raise InputError(f"{lake}: not an alb502 lake (no {ALB_LOGS_TABLE}/ folder)")
    con = con if con is not None else connect(lake)
    missing = sorted(t for t in tables_read(query) if not any((lake / t).glob("*/*.parquet")))
    if missing:
        raise InputError(
            f"{lake}: no {', '.join(missing)} files; a lake written before "
            f"{ALB_ERRORS_TABLE} existed needs 'alb502 process' again"
            if ALB_ERRORS_TABLE in missing
            else f"{lake}: no {', '.join(missing)} files"
        )
    # Through Arrow: DuckDB's own conversion of timestamptz wants pytz.
    result: pa.Table = con.sql(to_duckdb(query, values)).to_arrow_table()
    return result


def render(table: pa.Table) -> str:
    """Every column and row as aligned text; times to the second, in UTC."""
    header = list(table.column_names)
    # Ports and status codes are names, not amounts: no thousands separator.
    plain = [name.endswith(("_port", "_code")) for name in header]
    rows = [
        [
            str(v) if flat and v is not None else _cell(v)
            for v, flat in zip(row.values(), plain, strict=True)
        ]
        for row in table.to_pylist()
    ]
    if not rows:
        return "(no rows)"
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    numeric = [
        pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
        for f in table.schema
    ]
    lines = []
    for cells in (header, *rows):
        lines.append(
            "  ".join(
                cell.rjust(width) if right else cell.ljust(width)
                for cell, width, right in zip(cells, widths, numeric, strict=True)
            ).rstrip()
        )
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return f"{moment:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def find(name: str, queries: Sequence[SavedQuery]) -> SavedQuery:
    for query in queries:
        if query.name == name:
            return query
    names = ", ".join(q.name for q in queries)
    raise InputError(f"no saved query {name!r}; there are: {names}")
