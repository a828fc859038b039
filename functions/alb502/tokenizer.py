"""Per-line fallback tokenizer, for the few lines the CSV fast path cannot take.

The fast path (``parser``) hands over every line that is not plainly
formed: a raw ``"`` inside a quoted field, an unterminated quote, a quoted
field where ALB writes a bare one, stray line separators, or bytes that are
not UTF-8. This tokenizer reads one line with the same rules as the CSV
reader (single spaces between fields, ``"`` around some) but is lenient
where the CSV reader is strict: a quoted field ends only at a ``"`` that can
close it (see :func:`_closing_quote`), so a raw quote inside survives.

It scans with ``str.find`` rather than a regex: a backtracking regex over a
quoted field keeps state per character (about 145 bytes of memory per byte
of a long line); this keeps none.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from alb502.fields import LOG_FIELDS, MIN_FIELDS

#: Positions of the fields ALB always quotes (and AWS's regex wants quoted).
#: The target lists are left out: lines with them bare are read too.
QUOTED_FIELDS = frozenset(
    LOG_FIELDS.index(name)
    for name in (
        "request",
        "user_agent",
        "trace_id",
        "domain_name",
        "chosen_cert_arn",
        "actions_executed",
        "redirect_url",
        "error_reason",
        "classification",
        "classification_reason",
    )
)
#: Positions of the fields ALB never quotes, through ``conn_trace_id``
#: (later fields are free): AWS's regex reads them bare, quotes and all.
BARE_FIELDS = (
    frozenset(range(LOG_FIELDS.index("conn_trace_id") + 1))
    - QUOTED_FIELDS
    - {
        LOG_FIELDS.index("target:port_list"),
        LOG_FIELDS.index("target_status_code_list"),
    }
)


@functools.cache
def _closing_quote_pattern() -> re.Pattern[str]:
    """A quote that can close a quoted field (see ``_closing_quote``).

    Searched for in C; the lookahead's single repeat keeps no state per
    character. Compiled on first use, not at import: only the few lines the
    CSV fast path cannot take get here.
    """
    return re.compile(r'"(?=$| "| [^ "]*(?: |$))')


class Field(NamedTuple):
    """One field of a line: its text without quotes, and whether it was quoted."""

    text: str
    quoted: bool


#: The last field AWS's regex reads quoted; conn_trace_id follows it.
_CLASSIFICATION_REASON = LOG_FIELDS.index("classification_reason")


def decode_line(raw: bytes) -> str:
    """Text of one line; bytes that are not UTF-8 become ``\\xHH`` as ALB writes them."""
    text = raw.decode("utf-8", errors="backslashreplace")
    return text[:-1] if text.endswith("\r") else text


def tokenize(line: str) -> list[str] | None:
    """Fields of one line, quotes removed; ``None`` when it cannot be tokenised.

    >>> tokenize('http "GET / HTTP/1.1" -')
    ['http', 'GET / HTTP/1.1', '-']
    >>> tokenize('a "unterminated b') is None
    True
    """
    fields = tokenize_fields(line)
    return None if fields is None else [field.text for field in fields]


def tokenize_fields(line: str) -> list[Field] | None:
    """Fields of one line with whether each was quoted; ``None`` when it cannot be tokenised."""
    fields: list[Field] = []
    position = 0
    end = len(line)
    while True:
        if position < end and line[position] == '"':
            close = -1
            if len(fields) == _CLASSIFICATION_REASON:
                close = _last_quote_in_word(line, position + 1)
            if close < 0:
                close = _closing_quote(line, position + 1)
            if close < 0:
                return None
            fields.append(Field(line[position + 1 : close], quoted=True))
            position = close + 1
            if position < end and line[position] != " ":
                # AWS's regex reads the rest of classification_reason's word
                # as conn_trace_id (``"([^ ]*)" ?([^ ]*)?``).
                space = line.find(" ", position)
                stop = end if space < 0 else space
                fields.append(Field(line[position:stop], quoted=False))
                position = stop
        else:
            # A bare field runs to the next space.
            space = line.find(" ", position)
            stop = end if space < 0 else space
            fields.append(Field(line[position:stop], quoted=False))
            position = stop
        if position >= end:
            return fields
        position += 1  # the single space between fields


def fits_layout(fields: list[Field]) -> bool:
    """Whether an entry-length line is quoted where ALB quotes (else a stray quote shifted it).

    A raw quote inside a quoted field can close it early, so the rest of
    the line lands one or more fields later (the user agent's tail as the
    ``ssl_cipher``...): the fields ALB always quotes then come out bare.
    Lines too short to be entries fit whatever their quotes.
    """
    if len(fields) < MIN_FIELDS:
        return True
    return all(fields[i].quoted for i in QUOTED_FIELDS if i < len(fields))


def _last_quote_in_word(line: str, start: int) -> int:
    """The last ``"`` before the next space, where AWS's ``"([^ ]*)"`` ends; -1 if none."""
    space = line.find(" ", start)
    return line.rfind('"', start, len(line) if space < 0 else space)


def _closing_quote(line: str, start: int) -> int:
    """Index of the ``"`` that closes a quoted field whose text starts at ``start``; -1 if none.

    A quote inside a quoted field is taken as raw (part of the value) unless
    it is followed by the end of the line, or by a space and then something
    that can start the next field: a quote, or a bare token (bare ALB fields
    - IPs, numbers, ARNs, times - never contain a quote). When no quote can
    close the field that way, the last quote followed by a space closes it.
    """
    found = _closing_quote_pattern().search(line, start)
    if found is not None:
        return found.start()
    return line.rfind('" ', start)
