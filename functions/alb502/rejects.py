"""Why a line is not an ALB access-log entry: the ``reason`` codes of ``alb_log_rejects``.

Only rejected lines come here (a handful per object at most), so the checks
are plain Python and read in the order a person would look.
"""

from __future__ import annotations

import re

from alb502.fields import ISO_TIME_PATTERN, MIN_FIELDS
from alb502.tokenizer import fits_layout, tokenize_fields

BLANK_LINE = "blank_line"
#: The line ALB writes in ``ELBAccessLogTestFile`` when logging is enabled.
TEST_MESSAGE = "access_log_test_message"
#: A Network Load Balancer entry (``tls 2.0 <time> net/...``).
NLB_ENTRY = "nlb_entry"
#: A Classic Load Balancer entry (starts with the time, no type field).
CLASSIC_ELB_ENTRY = "classic_elb_entry"
#: An ALB connection-log entry (``<time> <client ip> <client port> <listener port> ...``).
CONNECTION_LOG_ENTRY = "connection_log_entry"
#: A ``"`` that opens a field and never closes it, or a raw one inside a
#: field that puts the later fields out of place (``tokenizer.fits_layout``).
UNBALANCED_QUOTES = "unbalanced_quotes"
#: Fewer fields than the oldest ALB format (through ``trace_id``): truncated.
TOO_FEW_FIELDS = "too_few_fields"
#: The ``time`` field (second) is not an ISO 8601 UTC time.
BAD_TIME = "bad_time"
#: A ``time`` before ``EARLIEST_DAY`` or more than a day in the future:
#: Athena's ``day`` projection would never show such an entry.
TIME_OUT_OF_RANGE = "time_out_of_range"
#: A CR not followed by LF, VT, FF, NEL, U+2028 or U+2029 inside the line:
#: ALB ends lines with LF only, so this is entries run together.
STRAY_LINE_SEPARATOR = "stray_line_separator"

#: The first day an entry may have (ALB began in 2016); also the first
#: day of the Glue tables' ``day`` projection (``infra.lake``).
EARLIEST_DAY = "2015-01-01"

REASONS: tuple[str, ...] = (
    BLANK_LINE,
    TEST_MESSAGE,
    NLB_ENTRY,
    CLASSIC_ELB_ENTRY,
    CONNECTION_LOG_ENTRY,
    UNBALANCED_QUOTES,
    TOO_FEW_FIELDS,
    BAD_TIME,
    TIME_OUT_OF_RANGE,
    STRAY_LINE_SEPARATOR,
)
#: Characters some reader takes as a line end (``str.splitlines`` does),
#: besides the LF that ends every line. A CR just before the LF is a CRLF
#: line end and never reaches here (``tokenizer.decode_line``).
LINE_SEPARATORS = "\r\x0b\x0c\x85\u2028\u2029"

#: Patterns, not compiled ones: only a rejected line needs them, so ``re``
#: compiles (and caches) them on first use instead of at every cold start.
_PORT_PATTERN = r"^\d{1,5}$"


def has_line_separator(line: str) -> bool:
    """The line holds a character that ends a line elsewhere (ALB writes LF only)."""
    return any(separator in line for separator in LINE_SEPARATORS)


def reason(line: str) -> str:
    """The reason code for a line that did not parse as an ALB entry."""
    if not line.strip():
        return BLANK_LINE
    if has_line_separator(line):
        return STRAY_LINE_SEPARATOR
    if line.startswith("Enable AccessLog for ELB:"):
        return TEST_MESSAGE
    fields = line.split(" ", 4)  # the first four fields decide; a long line stays cheap
    if len(fields) > 3 and fields[0] == "tls" and fields[3].startswith("net/"):
        return NLB_ENTRY
    if re.match(ISO_TIME_PATTERN, fields[0]):
        if (
            len(fields) > 3
            and re.match(_PORT_PATTERN, fields[2])
            and re.match(_PORT_PATTERN, fields[3])
        ):
            return CONNECTION_LOG_ENTRY
        return CLASSIC_ELB_ENTRY
    tokens = tokenize_fields(line)
    if tokens is None or not fits_layout(tokens):
        return UNBALANCED_QUOTES
    if len(tokens) < MIN_FIELDS:
        return TOO_FEW_FIELDS
    return BAD_TIME
