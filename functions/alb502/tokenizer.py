"""Per-line fallback tokenizer, for the few lines the CSV fast path cannot take.

The fast path (``parser``) hands over lines with a raw ``"`` inside a quoted
field, an unterminated quote, a field count unlike their neighbours', stray
carriage returns, or bytes that are not UTF-8. This tokenizer reads one
line with the same rules as the CSV reader (single spaces between fields,
``"`` around some) but is lenient where the CSV reader is strict: a quoted
field ends only at a ``"`` that can close it (see ``_TOKEN``), so a raw quote
inside survives.
"""

from __future__ import annotations

import re

# A quote inside a quoted field is taken as raw (part of the value) unless it
# is followed by the end of the line, or by a space and then something that
# can start the next field: a quote, or a bare token (bare ALB fields - IPs,
# numbers, ARNs, times - never contain a quote).
_TOKEN = re.compile(
    r'"(?P<quoted>(?:[^"]|"(?!$| "| [^ "]*(?: |$)))*)"(?= |$)'
    r'|(?P<bare>[^ "][^ ]*|)(?= |$)'
)


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
    fields: list[str] = []
    position = 0
    end = len(line)
    while True:
        match = _TOKEN.match(line, position)
        if match is None:
            return None
        quoted = match.group("quoted")
        fields.append(quoted if quoted is not None else match.group("bare"))
        position = match.end()
        if position >= end:
            return fields
        position += 1  # the single space between fields
