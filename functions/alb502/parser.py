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
from alb502.tokenizer import decode_line, tokenize

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


def parse_chunk(chunk: Chunk) -> ParsedChunk:
    """Parse one chunk of whole lines."""
    tokens, leftovers = _tokenize_fast(chunk)
    fallback, untokenizable = _tokenize_slow(leftovers)
    parts = [t for t in (tokens, fallback) if t is not None and len(t.line)]
    if not parts:
        return ParsedChunk(PARSED_SCHEMA.empty_table(), _rejects_table(chunk, untokenizable))
    merged = parts[0] if len(parts) == 1 else _concat(parts)
    rows, not_entries = _typed(merged)
    return ParsedChunk(rows, _rejects_table(chunk, untokenizable + not_entries))


# -- tokenising ---------------------------------------------------------------


def _tokenize_fast(chunk: Chunk) -> tuple[_Tokens | None, list[tuple[int, str]]]:
    """CSV-read the chunk; return its tokens and the lines left for the slow path."""
    data = chunk.data
    if chunk.lines == 0:
        return None, []
    # A lone CR is a line end to the CSV reader but not to us: line numbers
    # would drift. Bytes that are not UTF-8 make the CSV reader fail the
    # chunk. Both are rare (hostile input), so such a chunk goes slow.
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None, _all_lines(chunk)
    if not _is_utf8(data):
        return None, _all_lines(chunk)
    # From here on the CSV reader may skip its own UTF-8 check (see _read_csv).
    width = _likely_width(data)
    read = _read_csv(data, width)
    if read is None:
        return None, _all_lines(chunk)
    table, invalid = read
    if table.num_rows + len(invalid) != chunk.lines:
        # An unterminated quote swallowed line ends: this chunk goes slow.
        return None, _all_lines(chunk)
    numbers = _line_numbers(chunk, [number for number, _, _ in invalid])
    parts = [_from_csv(table, width, numbers)]
    leftovers: list[tuple[int, str]] = []
    by_width: dict[int, list[tuple[int, str]]] = {}
    for number, actual, text in invalid:
        by_width.setdefault(actual, []).append((number + chunk.first_line - 1, text))
    for actual, group in by_width.items():
        regrouped = _regroup(group, actual) if len(group) >= _REGROUP_MIN else None
        if regrouped is None:
            leftovers.extend(group)
        else:
            parts.append(regrouped)
    tokens = parts[0] if len(parts) == 1 else _concat(parts)
    return tokens, leftovers


def _line_numbers(chunk: Chunk, skipped: list[int]) -> pa.Array:
    """The chunk's line numbers (int64) less ``skipped`` (1-based within the chunk)."""
    within = pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), chunk.lines))
    if skipped:
        gone = pc.is_in(within, value_set=pa.array(skipped, pa.int64()))
        within = within.filter(pc.invert(gone))
    return pc.add(within, chunk.first_line - 1)


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


def _tokenize_slow(lines: list[tuple[int, str]]) -> tuple[_Tokens | None, list[int]]:
    """Per-line tokenizer; returns tokens and the lines it could not tokenise."""
    if not lines:
        return None, []
    values: list[list[str | None]] = [[] for _ in RAW_NAMES]
    numbers: list[int] = []
    widths: list[int] = []
    failed: list[int] = []
    for number, text in lines:
        fields = tokenize(text)
        if fields is None:
            failed.append(number)
            continue
        numbers.append(number)
        widths.append(len(fields))
        for i, column in enumerate(values):
            column.append(fields[i] if i < len(fields) else None)
    columns = {
        name: pa.array(column, _RAW_TYPE) for name, column in zip(RAW_NAMES, values, strict=True)
    }
    return _Tokens(columns, pa.array(numbers, pa.int64()), pa.array(widths, pa.int32())), failed


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


def _typed(tokens: _Tokens) -> tuple[pa.Table, list[int]]:
    """Typed entry columns, and the numbers of the lines that are not entries.

    An entry has at least the oldest format's fields and a valid ``time``.
    """
    n = len(tokens.line)

    def raw(i: int) -> pa.Array:
        name = RAW_NAMES[i]
        return tokens.columns[name] if name in tokens.columns else pa.nulls(n, _RAW_TYPE)

    time = raw(1)
    timestamp = _timestamp(time)
    ok = pc.and_(pc.is_valid(timestamp), pc.greater_equal(tokens.n_fields, MIN_FIELDS))
    not_entries: list[int] = []
    if not pc.all(ok).as_py():
        not_entries = tokens.line.filter(pc.invert(ok)).to_pylist()
        tokens = _Tokens(
            {name: column.filter(ok) for name, column in tokens.columns.items()},
            tokens.line.filter(ok),
            tokens.n_fields.filter(ok),
        )
        timestamp = timestamp.filter(ok)
        n = len(tokens.line)
        time = raw(1)

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
    return pa.table(columns, schema=PARSED_SCHEMA), not_entries


def _timestamp(time: pa.Array) -> pa.Array:
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
    try:
        return pc.cast(candidates, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Right shape, impossible value (month 13): find them one by one.
        return pa.array([_one_timestamp(value) for value in candidates.to_pylist()], target)


def _one_timestamp(value: str | None) -> object:
    if value is None:
        return None
    try:
        return pc.cast(pa.scalar(value), pa.timestamp("us", tz="UTC")).as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


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
    conn_trace_id, and, being unquoted, stops at the first space of a
    quoted value, keeping its opening quote (ALB itself never quotes it).
    """
    if field.null_count:
        field = pc.if_else(pc.and_(pc.is_null(field), has_regex_shape), "", field)
    spaced = pc.match_substring(field, " ")
    if pc.any(spaced).as_py():
        first_word, _ = _split_once(field, " ", last=False)
        field = pc.if_else(spaced, pc.binary_join_element_wise('"', first_word, ""), field)
    return field


def _number(field: pa.Array, to: pa.DataType) -> pa.Array:
    """Numbers as AWS's table reads them: anything unparseable is null."""
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


def _rejects_table(chunk: Chunk, numbers: list[int]) -> pa.Table:
    """Rejected lines with their text and a reason (``rejects`` has the codes)."""
    if not numbers:
        return REJECTS_SCHEMA.empty_table()
    numbers = sorted(numbers)
    raw = chunk.data.split(b"\n")
    texts = [decode_line(raw[number - chunk.first_line]) for number in numbers]
    reasons = [rejects.reason(text) for text in texts]
    return pa.table(
        {
            "source_key": pa.nulls(len(numbers), pa.string()),
            "source_line": pa.array(numbers, pa.int64()),
            "raw_line": pa.array(texts, pa.string()),
            "reason": pa.array(reasons, pa.string()),
        },
        schema=REJECTS_SCHEMA,
    )
