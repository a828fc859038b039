"""The Athena saved queries shipped in ``infra/queries/*.sql``.

Each file is one Trino (Athena engine v3) statement. Its leading ``--``
comment lines are the description shown in the Athena console; the file
name (without ``.sql``) is the query's name. The same text is what the
tests transpile to DuckDB and run over a pipeline-written lake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

QUERIES_DIR = Path(__file__).resolve().parent / "queries"


@dataclass(frozen=True)
class SavedQuery:
    name: str
    description: str
    sql: str


def _parse(path: Path) -> SavedQuery:
    text = path.read_text()
    description: list[str] = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        description.append(line.removeprefix("--").strip())
    summary = " ".join(part for part in description if part)
    if not summary:
        raise ValueError(f"{path.name}: start with a -- comment describing the query")
    # Athena caps a named query's description at 1024 characters.
    return SavedQuery(name=path.stem, description=summary[:1024], sql=text.strip() + "\n")


def load_saved_queries(directory: Path = QUERIES_DIR) -> list[SavedQuery]:
    """Every ``*.sql`` file under ``directory``, sorted by name."""
    return [_parse(path) for path in sorted(directory.glob("*.sql"))]
