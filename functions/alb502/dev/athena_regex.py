"""AWS's own Athena table for ALB logs, as a per-line Python parser.

``alb_access_logs`` in AWS's Athena documentation reads the raw log text
with Hive's RegexSerDe and the regex below: a line that does not match the
whole regex is all nulls; a group that does not parse as the column's
number type is null. alb502's own columns must equal what this gives
wherever it matches, so the tests use it as the reference, and the
benchmark uses it as the straightforward implementation to beat.
"""

from __future__ import annotations

import re
from typing import Any

from alb502.fields import AWS_COLUMNS

#: AWS's ``input.regex`` (34 groups and a trailing catch-all), verbatim.
ATHENA_REGEX = (
    r"([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*):([0-9]*) ([^ ]*)[:-]([0-9]*) ([-.0-9]*) ([-.0-9]*) "
    r'([-.0-9]*) (|[-0-9]*) (-|[-0-9]*) ([-0-9]*) ([-0-9]*) "([^ ]*) (.*) (- |[^ ]*)" '
    r'"([^"]*)" ([A-Z0-9-_]+) ([A-Za-z0-9.-]*) ([^ ]*) "([^"]*)" "([^"]*)" "([^"]*)" '
    r'([-.0-9]*) ([^ ]*) "([^"]*)" "([^"]*)" "([^ ]*)" "([^\s]+?)" "([^\s]+)" '
    r'"([^ ]*)" "([^ ]*)" ?([^ ]*)? ?( .*)?'
)
_PATTERN = re.compile(ATHENA_REGEX)
_RANGES = {"int32": 2**31, "int64": 2**63}


def _convert(value: str | None, type_name: str) -> Any:
    """One group as the SerDe converts it (Java ``Integer.valueOf`` and the like)."""
    if value is None:
        return None
    if type_name in _RANGES:
        try:
            number = int(value)
        except ValueError:
            return None
        limit = _RANGES[type_name]
        return number if -limit <= number < limit else None
    if type_name == "double":
        try:
            return float(value)
        except ValueError:
            return None
    return value


_TYPES = tuple(str(field.type) for field in AWS_COLUMNS)
_NAMES = tuple(field.name for field in AWS_COLUMNS)


def parse_line(line: str) -> dict[str, Any] | None:
    """The row AWS's table gives for ``line``, or ``None`` where the regex does not match."""
    match = _PATTERN.fullmatch(line)
    if match is None:
        return None
    groups = match.groups()
    return {
        name: _convert(value, type_name)
        for name, value, type_name in zip(_NAMES, groups, _TYPES, strict=False)
    }
