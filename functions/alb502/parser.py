"""Parse stage: chunks of log text to Arrow tables of entries and rejects.

Fast path: pyarrow's CSV reader (space delimiter, ``"`` quotes) tokenises a
whole chunk in C++; the derived columns (ip/port splits, the request line,
numbers, timestamps) are computed column-wise with compute kernels. Lines
the CSV reader cannot take go to the per-line tokenizer (``tokenizer``).
Every line ends as one row or one reject with a reason: none is dropped.

The 34 AWS columns hold what AWS's own Athena table (RegexSerDe) gives for
the same line wherever its regex matches (``athena_regex``): ``-`` kept in
strings, ``-1`` in timings, a ``-`` target as an empty ``target_ip`` and a
null ``target_port``, IPv6 ``ip:port`` split on the last colon, ``\\xHH``
escapes kept as written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from alb502 import rejects
from alb502.fields import (
    ALB_LOGS_SCHEMA,
    AWS_REGEX_MIN_FIELDS,
    ISO_TIME_PATTERN,
    LOG_FIELDS,
    MIN_FIELDS,
    REJECTS_SCHEMA,
    TAG_COLUMNS,
)
from alb502.reader import Chunk
from alb502.tokenizer import (
    BARE_FIELDS,
    QUOTED_FIELDS,
    decode_line,
    fits_layout,
    tokenize,
    tokenize_fields,
)

#: A line holding one of these is entries run together (``rejects.STRAY_LINE_SEPARATOR``).
_SEPARATORS = rejects.LINE_SEPARATORS
#: A field as the CSV reader reads it exactly as the per-line tokenizer does:
#: quoted without a quote inside, or bare without any quote.
_QUOTED = f'"[^"\n{_SEPARATORS}]*"'
_BARE = f'[^ "\n{_SEPARATORS}]*'
_ANY = f"(?:{_QUOTED}|{_BARE})"


def _plain_line() -> str:
    """A line quoted where ALB quotes and bare where it does not (``tokenizer``).

    For such a line the CSV fast path gives what the per-line path gives,
    whatever its neighbours; the per-line path takes every other line. The
    fields after the first are optional: a truncated line is plain too.
    """
    laid_out = max(BARE_FIELDS | QUOTED_FIELDS) + 1
    pattern = f"(?: {_ANY})*"
    for i in reversed(range(laid_out)):
        field = _QUOTED if i in QUOTED_FIELDS else _BARE if i in BARE_FIELDS else _ANY
        pattern = f"{field}{pattern}" if i == laid_out - 1 else f"{field}(?: {pattern})?"
    return pattern + "\r?"


_PLAIN_LINE = _plain_line()
_PLAIN_CHUNK = f"^(?:{_PLAIN_LINE}\n)*(?:{_PLAIN_LINE})?$"
_CONN_TRACE_ID = LOG_FIELDS.index("conn_trace_id")
#: The first day Athena's ``day`` projection offers (``infra.lake``): ALB
#: began in 2016, so an earlier time is a damaged line.
EARLIEST_TIME = datetime.fromisoformat(rejects.EARLIEST_DAY).replace(tzinfo=UTC)
#: How far past the time of parsing an entry's time may be (clock skew);
#: the ``day`` projection ends at ``NOW+1DAYS``.
LATEST_AHEAD = timedelta(days=1)

#: Raw token columns: f0 is ``type``, f1 ``time``... (``fields.LOG_FIELDS``).
RAW_NAMES: tuple[str, ...] = tuple(f"f{i}" for i in range(len(LOG_FIELDS)))
_RAW_TYPE = pa.string()
#: Bytes the CSV reader takes at a time. Its passes over a block run from
#: the CPU cache when the block is this small: a chunk read in 1 MiB blocks
#: tokenised twice as fast as the same chunk read as one block.
CSV_BLOCK_SIZE = 1 << 20
#: Ragged lines (another field count than the chunk's first lines) are
#: re-read by the CSV reader as a group when there are at least this many.
_REGROUP_MIN = 32
_PARSE_OPTIONS_BASE = {
    "delimiter": " ",
    "quote_char": '"',
    "double_quote": False,
    "escape_char": False,
    "newlines_in_values": False,
    "ignore_empty_lines": False,
}
#: Columns the parser fills; the classifier adds the 502 tags.
#: What the parser gives: every column but those the writer adds per object.
PARSED_SCHEMA = pa.schema(
    [f for f in ALB_LOGS_SCHEMA if f.name not in ("source_key", "account_id", "region")]
)


@dataclass(frozen=True, slots=True)
class ParsedChunk:
    """Entries (``PARSED_SCHEMA``, tags still null) and rejects of one chunk."""

    rows: pa.Table
    rejects: pa.Table


@dataclass(slots=True)
class _Tokens:
    """Raw string columns f0..f35 of some lines, with their line numbers and field counts."""

    columns: dict[str, pa.Array]
    line: pa.Array  # int64, 1-based line numbers
    n_fields: pa.Array  # int32


def parse_chunk(chunk: Chunk, *, not_after: datetime | None = None) -> ParsedChunk:
    """Parse one chunk of whole lines.

    Each line's row or reject depends on that line alone, never on the
    rest of the chunk. An entry whose ``time`` is before ``EARLIEST_TIME``
    or after ``not_after`` (by default a day after now) is a
    ``time_out_of_range`` reject: Athena's ``day`` projection would never show it.
    """
    if not_after is None:
        not_after = datetime.now(UTC) + LATEST_AHEAD
    tokens, leftovers = _tokenize_fast(chunk)
    fallback, untokenizable = _tokenize_slow(leftovers)
    # Every line the slow path saw is decoded already: rejects reuse the text.
    decoded = dict(leftovers)
    parts = [t for t in (tokens, fallback) if t is not None and len(t.line)]
    if not parts:
        return ParsedChunk(
            PARSED_SCHEMA.empty_table(),
            _rejects_table(chunk, list(untokenizable), {}, decoded),
        )
    merged = parts[0] if len(parts) == 1 else _concat(parts)
    rows, not_entries, out_of_range = _typed(merged, not_after)
    reasons = dict.fromkeys(out_of_range, rejects.TIME_OUT_OF_RANGE)
    return ParsedChunk(
        rows,
        _rejects_table(chunk, [*untokenizable, *not_entries, *out_of_range], reasons, decoded),
    )


# -- tokenising ---------------------------------------------------------------


def _tokenize_fast(chunk: Chunk) -> tuple[_Tokens | None, list[tuple[int, str]]]:
    """CSV-read the chunk's plain lines; return their tokens and the lines left over."""
    if chunk.lines == 0:
        return None, []
    # Bytes that are not UTF-8 make the CSV reader fail the chunk. That is
    # rare (hostile input), so such a chunk goes slow.
    if not _is_utf8(chunk.data):
        return None, _all_lines(chunk)
    # From here on the CSV reader may skip its own UTF-8 check (see _read_csv).
    data, lines, leftovers = _plain_lines(chunk)
    if not len(lines):
        return None, leftovers
    width = _likely_width(data)
    read = _read_csv(data, width)
    if read is None:
        return None, _all_lines(chunk)
    table, invalid = read
    if table.num_rows + len(invalid) != len(lines):
        return None, _all_lines(chunk)
    numbers = _skip(lines, [number for number, _, _ in invalid])
    parts = [_from_csv(table, width, numbers)]
    by_width: dict[int, list[tuple[int, str]]] = {}
    for number, actual, text in invalid:
        by_width.setdefault(actual, []).append((lines[number - 1].as_py(), text))
    for actual, group in by_width.items():
        regrouped = _regroup(group, actual) if len(group) >= _REGROUP_MIN else None
        if regrouped is None:
            leftovers.extend(group)
        else:
            parts.append(regrouped)
    tokens = parts[0] if len(parts) == 1 else _concat(parts)
    return tokens, leftovers


def _plain_lines(chunk: Chunk) -> tuple[bytes, pa.Array, list[tuple[int, str]]]:
    """The chunk's plainly formed lines (text, line numbers) and the others (``_PLAIN_LINE``).

    Nearly every chunk is plain throughout: one regex pass (RE2, linear)
    over the whole chunk says so. Otherwise each line is checked.
    """
    data = chunk.data
    first = chunk.first_line
    # The chunk as one string, without a copy (it was checked to be UTF-8).
    offsets = pa.array([0, len(data)], pa.int64()).buffers()[1]
    whole = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    if pc.all(pc.match_substring_regex(whole, _PLAIN_CHUNK)).as_py():
        return data, _positions(chunk.lines, first), []
    raw = data.split(b"\n")
    if data.endswith(b"\n"):
        raw.pop()
    plain = pc.match_substring_regex(
        pa.array(raw, pa.large_string()), f"^{_PLAIN_LINE}$"
    ).to_pylist()
    kept: list[bytes] = []
    numbers: list[int] = []
    others: list[tuple[int, str]] = []
    for number, (line, ok) in enumerate(zip(raw, plain, strict=True), start=first):
        if ok:
            kept.append(line)
            numbers.append(number)
        else:
            others.append((number, decode_line(line)))
    return b"".join(line + b"\n" for line in kept), pa.array(numbers, pa.int64()), others


def _positions(count: int, first: int = 1) -> pa.Array:
    """``first``, ``first + 1``, ... (``count`` of them, int64)."""
    return pc.add(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), count)), first - 1)


def _skip(lines: pa.Array, skipped: list[int]) -> pa.Array:
    """``lines`` (line numbers, int64) less the ``skipped`` ones (1-based positions)."""
    if not skipped:
        return lines
    gone = pc.is_in(_positions(len(lines)), value_set=pa.array(skipped, pa.int64()))
    return lines.filter(pc.invert(gone))


def _is_utf8(data: bytes) -> bool:
    # ALB escapes every non-ASCII byte (\xHH), so the cheap check nearly always decides.
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _likely_width(data: bytes) -> int:
    """Field count of most of the chunk's first lines."""
    counts: Counter[int] = Counter()
    start = 0
    for _ in range(5):
        end = data.find(b"\n", start)
        line = data[start:] if end < 0 else data[start:end]
        fields = tokenize(decode_line(line))
        if fields is not None and len(fields) > 1:
            counts[len(fields)] += 1
        if end < 0:
            break
        start = end + 1
    return counts.most_common(1)[0][0] if counts else len(LOG_FIELDS)


def _read_csv(data: bytes, width: int) -> tuple[pa.Table, list[tuple[int, int, str]]] | None:
    """CSV-read ``data`` in blocks of ``CSV_BLOCK_SIZE``, or whole when a line is longer."""
    if len(data) > CSV_BLOCK_SIZE:
        try:
            return _read_csv_blocks(data, width, CSV_BLOCK_SIZE)
        except pa.ArrowInvalid:
            pass  # a line longer than a block (or bad input): try the chunk as one block
    try:
        return _read_csv_blocks(data, width, len(data) + 1)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        # Bytes that are not UTF-8, or a row number the reader could not
        # track: the per-line path takes the chunk.
        return None


def _read_csv_blocks(
    data: bytes, width: int, block_size: int
) -> tuple[pa.Table, list[tuple[int, int, str]]] | None:
    invalid: list[tuple[int, int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.number, row.actual_columns, row.text))
        return "skip"

    names = [f"f{i}" for i in range(width)]
    table = pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(
            column_names=names, use_threads=False, block_size=block_size
        ),
        parse_options=pacsv.ParseOptions(**_PARSE_OPTIONS_BASE, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, _RAW_TYPE),
            include_columns=names[: len(RAW_NAMES)],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            # The chunk was checked to be UTF-8 before (_is_utf8).
            check_utf8=False,
        ),
    )
    if any(number is None for number, _, _ in invalid):
        return None
    return table, invalid


def _from_csv(table: pa.Table, width: int, lines: pa.Array) -> _Tokens:
    columns = {
        name: column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        for name, column in zip(table.column_names, table.columns, strict=True)
    }
    widths = pa.repeat(pa.scalar(width, pa.int32()), len(lines))
    return _Tokens(columns, lines, widths)


def _regroup(group: list[tuple[int, str]], width: int) -> _Tokens | None:
    """Re-read lines that share a field count unlike the chunk's as one CSV block."""
    data = "\n".join(text for _, text in group).encode()
    read = _read_csv(data, width)
    if read is None or read[1] or read[0].num_rows != len(group):
        return None
    return _from_csv(read[0], width, pa.array([number for number, _ in group], pa.int64()))


def _all_lines(chunk: Chunk) -> list[tuple[int, str]]:
    raw = chunk.data.split(b"\n")
    if chunk.data.endswith(b"\n"):
        raw.pop()
    return [(chunk.first_line + i, decode_line(line)) for i, line in enumerate(raw)]


def _tokenize_slow(lines: list[tuple[int, str]]) -> tuple[_Tokens | None, dict[int, str]]:
    """Per-line tokenizer; returns tokens and the lines it could not tokenise (by number)."""
    if not lines:
        return None, {}
    values: list[list[str | None]] = [[] for _ in RAW_NAMES]
    numbers: list[int] = []
    widths: list[int] = []
    failed: dict[int, str] = {}
    for number, text in lines:
        fields = None if rejects.has_line_separator(text) else _fields(text)
        if fields is None:
            failed[number] = text
            continue
        numbers.append(number)
        widths.append(len(fields))
        for i, column in enumerate(values):
            column.append(fields[i] if i < len(fields) else None)
    columns = {
        name: pa.array(column, _RAW_TYPE) for name, column in zip(RAW_NAMES, values, strict=True)
    }
    return _Tokens(columns, pa.array(numbers, pa.int64()), pa.array(widths, pa.int32())), failed


def _fields(text: str) -> list[str] | None:
    """A line's fields as the columns hold them; ``None`` for a line that is no entry.

    A field ALB never quotes keeps its quotes when quoted, as AWS's regex
    reads it (``([^ ]*)``); a quoted ``conn_trace_id`` with a space ends,
    opening quote kept, at that space (AWS's group stops there). A line
    quoted so that its fields are out of place is no entry (``fits_layout``).
    """
    fields = tokenize_fields(text)
    if fields is None or not fits_layout(fields):
        return None
    values = [field.text for field in fields]
    for i in BARE_FIELDS:
        if i < len(fields) and fields[i].quoted:
            values[i] = f'"{values[i]}"'
    if len(fields) > _CONN_TRACE_ID and fields[_CONN_TRACE_ID].quoted:
        value = fields[_CONN_TRACE_ID].text
        values[_CONN_TRACE_ID] = '"' + value.split(" ", 1)[0] if " " in value else f'"{value}"'
    return values


def _concat(parts: list[_Tokens]) -> _Tokens:
    columns: dict[str, pa.Array] = {}
    for name in RAW_NAMES:
        pieces = [
            p.columns[name] if name in p.columns else pa.nulls(len(p.line), _RAW_TYPE)
            for p in parts
        ]
        if any(name in p.columns for p in parts):
            columns[name] = pa.concat_arrays(pieces)
    line = pa.concat_arrays([p.line for p in parts])
    n_fields = pa.concat_arrays([p.n_fields for p in parts])
    # Rows in line order, as a person reading the object expects.
    order = pc.sort_indices(line)
    columns = {name: column.take(order) for name, column in columns.items()}
    return _Tokens(columns, line.take(order), n_fields.take(order))


# -- typed columns ------------------------------------------------------------


def _typed(tokens: _Tokens, not_after: datetime) -> tuple[pa.Table, list[int], list[int]]:
    """Typed entry columns, the lines that are not entries, and those dated out of range.

    An entry has at least the oldest format's fields and a valid ``time``.
    """
    n = len(tokens.line)

    def raw(i: int) -> pa.Array:
        name = RAW_NAMES[i]
        return tokens.columns[name] if name in tokens.columns else pa.nulls(n, _RAW_TYPE)

    time = raw(1)
    timestamp = utc_timestamp(time)
    entry = pc.and_(pc.is_valid(timestamp), pc.greater_equal(tokens.n_fields, MIN_FIELDS))
    in_range = pc.fill_null(
        pc.and_(
            pc.greater_equal(timestamp, pa.scalar(EARLIEST_TIME, timestamp.type)),
            pc.less_equal(timestamp, pa.scalar(not_after, timestamp.type)),
        ),
        False,
    )
    ok = pc.and_(entry, in_range)
    not_entries: list[int] = []
    out_of_range: list[int] = []
    if not pc.all(ok).as_py():
        not_entries = tokens.line.filter(pc.invert(entry)).to_pylist()
        out_of_range = tokens.line.filter(pc.and_(entry, pc.invert(in_range))).to_pylist()
        tokens = _Tokens(
            {name: column.filter(ok) for name, column in tokens.columns.items()},
            tokens.line.filter(ok),
            tokens.n_fields.filter(ok),
        )
        timestamp = timestamp.filter(ok)
        n = len(tokens.line)
        time = raw(1)
    time = _microsecond_time(time)

    client_ip, client_port = _split_host_port(raw(3), r"^(?P<host>.*):(?P<port>[0-9]*)$")
    target_ip, target_port = _split_host_port(raw(4), r"^(?P<host>.*)[:-](?P<port>[0-9]*)$")
    has_regex_shape = pc.greater_equal(tokens.n_fields, AWS_REGEX_MIN_FIELDS)
    verb, url, proto = _split_request(raw(12), has_regex_shape)
    conn_trace_id = _conn_trace_id(raw(29), has_regex_shape)
    columns: dict[str, pa.Array] = {
        "type": raw(0),
        "time": time,
        "elb": raw(2),
        "client_ip": client_ip,
        "client_port": _number(client_port, pa.int32()),
        "target_ip": target_ip,
        "target_port": _number(target_port, pa.int32()),
        "request_processing_time": _number(raw(5), pa.float64()),
        "target_processing_time": _number(raw(6), pa.float64()),
        "response_processing_time": _number(raw(7), pa.float64()),
        "elb_status_code": _number(raw(8), pa.int32()),
        "target_status_code": raw(9),
        "received_bytes": _number(raw(10), pa.int64()),
        "sent_bytes": _number(raw(11), pa.int64()),
        "request_verb": verb,
        "request_url": url,
        "request_proto": proto,
        "user_agent": raw(13),
        "ssl_cipher": raw(14),
        "ssl_protocol": raw(15),
        "target_group_arn": raw(16),
        "trace_id": raw(17),
        "domain_name": raw(18),
        "chosen_cert_arn": raw(19),
        "matched_rule_priority": raw(20),
        "request_creation_time": raw(21),
        "actions_executed": raw(22),
        "redirect_url": raw(23),
        "lambda_error_reason": raw(24),
        "target_port_list": raw(25),
        "target_status_code_list": raw(26),
        "classification": raw(27),
        "classification_reason": raw(28),
        "conn_trace_id": conn_trace_id,
        "transformed_host": raw(30),
        "transformed_uri": raw(31),
        "request_transform_status": raw(32),
        "ip_address": raw(33),
        "target_error_code": raw(34),
        "elb_error_code": raw(35),
        "request_ts": pc.cast(timestamp, pa.timestamp("ms", tz="UTC"), safe=False),
        **{name: pa.nulls(n, PARSED_SCHEMA.field(name).type) for name in TAG_COLUMNS},
        "source_line": tokens.line,
    }
    return pa.table(columns, schema=PARSED_SCHEMA), not_entries, out_of_range


def _microsecond_time(time: pa.Array) -> pa.Array:
    """``time`` with 7 to 9 fractional digits kept to the microsecond (ALB writes 6).

    AWS's table would keep them all; but the classifier reads ``time`` as
    a microsecond timestamp again, and Arrow refuses to cast such a string.
    """
    # Bytes, not characters: ALB's time is ASCII, and a longer value goes the regex way.
    if (pc.max(pc.binary_length(time)).as_py() or 0) <= _MICROSECOND_TIME_LENGTH:
        return time
    return pc.replace_substring_regex(time, _EXTRA_DIGITS, r"\1Z")


def utc_timestamp(time: pa.Array) -> pa.Array:
    """``time`` as a UTC timestamp (µs); null where it is not ALB's ISO 8601 ``...Z``.

    Arrow's cast alone would also take offsets (``+02:00``) and dates
    without a time: the shape check keeps ``day`` (the first 10 characters)
    the UTC day, and the verdict the same whatever the chunk.
    """
    target = pa.timestamp("us", tz="UTC")
    right_shape = pc.fill_null(pc.match_substring_regex(time, ISO_TIME_PATTERN), False)
    candidates = time
    if not pc.all(right_shape).as_py():
        candidates = pc.if_else(right_shape, time, pa.scalar(None, pa.string()))
    candidates = _microsecond_time(candidates)
    try:
        timestamp = pc.cast(candidates, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Right shape, impossible value (month 13): find them one by one.
        timestamp = pa.concat_arrays([_one_timestamp(value, target) for value in candidates])
    # Year 0000 parses but no Python datetime holds it: not a time.
    too_early = pc.fill_null(
        pc.less(timestamp, pa.scalar(datetime.min.replace(tzinfo=UTC), target)), False
    )
    if pc.any(too_early).as_py():
        timestamp = pc.if_else(too_early, pa.scalar(None, target), timestamp)
    return timestamp


#: ``2018-07-02T22:23:00.186641Z``: ALB's time, microseconds at most.
_MICROSECOND_TIME_LENGTH = 27
_EXTRA_DIGITS = r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})\d{1,3}Z$"


def _one_timestamp(value: pa.Scalar, target: pa.DataType) -> pa.Array:
    try:
        return pc.cast(pa.array([value.as_py()], pa.string()), target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.nulls(1, target)


def _split_once(field: pa.Array, separator: str, *, last: bool) -> tuple[pa.Array, pa.Array]:
    """Split at the first (or last) ``separator``; the right part is null when there is none."""
    parts = pc.split_pattern(field, separator, max_splits=1, reverse=last)
    if parts.null_count == 0 and pc.min(pc.list_value_length(parts)).as_py() == 2:
        return pc.list_element(parts, 0), pc.list_element(parts, 1)
    pair = pc.list_slice(parts, 0, 2, return_fixed_size_list=True)
    return pc.list_element(pair, 0), pc.list_element(pair, 1)


def _split_host_port(field: pa.Array, pattern: str) -> tuple[pa.Array, pa.Array]:
    """``ip:port`` split as AWS's regex splits it (``pattern``): on the last separator.

    A plain split on the last colon gives the same answer for every real
    value, and ``-`` (no target) is an empty ip and no port; the regex itself
    only runs where a split might differ (no colon, a port that is not digits).
    """
    host, port = _split_once(field, ":", last=True)
    conform = pc.fill_null(pc.or_(pc.utf8_is_digit(port), pc.equal(port, "")), False)
    if pc.all(conform).as_py():
        return host, port
    absent = pc.fill_null(pc.equal(field, "-"), False)
    host = pc.if_else(absent, "", host)
    conform = pc.or_(conform, absent)
    if pc.all(conform).as_py():
        return host, port
    parts = pc.extract_regex(field, pattern)
    # No separator at all: AWS's regex would not match; keep the text as the host.
    exact_host = pc.if_else(pc.is_valid(parts), pc.struct_field(parts, "host"), field)
    exact_port = pc.struct_field(parts, "port")
    return pc.if_else(conform, host, exact_host), pc.if_else(conform, port, exact_port)


def _split_request(
    request: pa.Array, has_regex_shape: pa.Array
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """``METHOD URL PROTOCOL`` split exactly as AWS's ``"([^ ]*) (.*) (- |[^ ]*)"``.

    Its greedy ``(.*)`` always ends at the last space, so that regex is a
    split at the first and the last space: a raw space inside a URL
    (``SpaceInUri``) stays in the URL. With fewer than two spaces the first
    word is the verb, the rest the URL, and there is no protocol. AWS's
    split leaves the URL with a trailing word when ALB ends a malformed
    request line with a space (``"- - - "``); on the older, shorter lines
    that AWS's table cannot read at all, that trailing space is dropped
    first, so they split into ``-``, ``-``, ``-``.
    """
    if not pc.all(has_regex_shape).as_py():
        trimmed = pc.replace_substring_regex(request, " $", "")
        request = pc.if_else(has_regex_shape, request, trimmed)
    verb, rest = _split_once(request, " ", last=False)
    url, proto = _split_once(rest, " ", last=True)
    return verb, url, proto


def _conn_trace_id(field: pa.Array, has_regex_shape: pa.Array) -> pa.Array:
    """conn_trace_id as AWS's trailing ``?([^ ]*)?`` group reads it.

    That group captures "" on lines with the classification fields but no
    conn_trace_id. A quoted one keeps its quotes (see ``_fields``: only the
    per-line path meets one).
    """
    if field.null_count:
        field = pc.if_else(pc.and_(pc.is_null(field), has_regex_shape), "", field)
    return field


def _number(field: pa.Array, to: pa.DataType) -> pa.Array:
    """Numbers as AWS's table reads them: anything unparseable is null.

    Arrow's cast alone would also read ``1e5``, ``inf`` or ``+1``, and only
    when the whole column casts: it is tried only when every value is made
    of AWS's characters (``[-.0-9]``), so the verdict is the same whatever
    the chunk.
    """
    # Nothing left once AWS's characters are trimmed: every value is made of them.
    if not pc.max(pc.binary_length(pc.utf8_trim(field, "-.0123456789"))).as_py():
        try:
            return pc.cast(field, to)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    pattern = r"^-?[0-9]+$" if pa.types.is_integer(to) else r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)$"
    candidates = pc.if_else(
        pc.match_substring_regex(field, pattern), field, pa.scalar(None, pa.string())
    )
    try:
        return pc.cast(candidates, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Out of range for the type (a port of 12 digits): one by one.
        values = []
        for value in candidates.to_pylist():
            try:
                values.append(pc.cast(pa.scalar(value), to).as_py() if value else None)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                values.append(None)
        return pa.array(values, to)


# -- rejects ------------------------------------------------------------------


def _rejects_table(
    chunk: Chunk, numbers: list[int], known: dict[int, str], decoded: dict[int, str]
) -> pa.Table:
    """Rejected lines with their text and a reason (``rejects`` has the codes).

    ``known`` holds the reasons the parser decided itself; the others are
    read from the text. ``decoded`` holds texts already decoded: a long
    line is not split out of the chunk again.
    """
    if not numbers:
        return REJECTS_SCHEMA.empty_table()
    numbers = sorted(numbers)
    missing = [number for number in numbers if number not in decoded]
    if missing:
        # Lines the CSV path read: cut out of the chunk once, for all of them.
        raw = chunk.data.split(b"\n")
        decoded = {**decoded, **{n: decode_line(raw[n - chunk.first_line]) for n in missing}}
        del raw
    texts = [decoded[number] for number in numbers]
    reasons = [
        known.get(number) or rejects.reason(text)
        for number, text in zip(numbers, texts, strict=True)
    ]
    return pa.table(
        {
            "source_key": pa.nulls(len(numbers), pa.string()),
            "source_line": pa.array(numbers, pa.int64()),
            "raw_line": pa.array(texts, pa.string()),
            "reason": pa.array(reasons, pa.string()),
        },
        schema=REJECTS_SCHEMA,
    )
