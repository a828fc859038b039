"""The Athena saved queries shipped in ``infra/queries/*.sql``.

Each file is one Trino (Athena engine v3) statement. Its leading ``--``
comment lines are the description shown in the Athena console; the file
name (without ``.sql``) is the query's name; a ``-- parameters:`` line
names its ``?`` execution parameters in order. The same text is what
``alb502 query`` and the tests bind and transpile to DuckDB
(:mod:`alb502.query`, which holds the parsing).
"""

from __future__ import annotations

from alb502.query import QUERIES_DIR, SavedQuery, load_saved_queries

__all__ = ["QUERIES_DIR", "SavedQuery", "load_saved_queries"]
