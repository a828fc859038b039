"""Parser: AWS's examples, the format traps of alb-log-format.md, hostile input.

Where AWS's own Athena regex reads a line, every one of the 34 AWS columns
must equal what it gives (``athena_regex`` is the oracle).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from alb502 import rejects
from alb502.dev.athena_regex import parse_line
from alb502.fields import AWS_COLUMNS
from alb502.parser import PARSED_SCHEMA, ParsedChunk, parse_chunk
from alb502.reader import Chunk

from logtext import parse_lines, parse_text

AWS_NAMES = [f.name for f in AWS_COLUMNS]

# AWS's documented example entries (the same as ../shared/samples), written
# here so the tests run without ../shared.
HTTP = (
    "http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 "
    "192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "
    '"GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - '
    "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "
    '"Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z '
    '"forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90 "-" "-" "-"'
)
LAMBDA_FAILED = (
    "http 2018-11-30T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 "
    "192.168.131.39:2817 - 0.000 0.001 0.000 502 - 34 366 "
    '"GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - '
    "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "
    '"Root=1-58337364-23a8c76965a2ef7629b185e3" "-" "-" 0 2018-11-30T22:22:48.364000Z '
    '"forward" "-" "LambdaInvalidResponse" "-" "-" "-" "-" TID_1234abcd5678ef90 "-" "-" "-"'
)


def one_row(line: str) -> dict[str, object]:
    parsed = parse_lines(line)
    assert parsed.rejects.num_rows == 0, parsed.rejects.to_pylist()
    assert parsed.rows.num_rows == 1
    row: dict[str, object] = parsed.rows.to_pylist()[0]
    return row


def assert_matches_athena(line: str) -> dict[str, object]:
    """The row's 34 AWS columns equal what AWS's table gives for ``line``."""
    expected = parse_line(line)
    assert expected is not None, "AWS's regex should read this line"
    row = one_row(line)
    assert {k: row[k] for k in AWS_NAMES} == expected
    return row


def test_aws_examples_match_athena(shared: Path) -> None:
    lines = (shared / "samples" / "aws-doc-examples.log").read_text().splitlines()
    assert len(lines) == 7
    for line in lines:
        assert_matches_athena(line)


def test_http_example_fields() -> None:
    row = assert_matches_athena(HTTP)
    assert row["client_ip"] == "192.168.131.39"
    assert row["client_port"] == 2817
    assert row["target_ip"] == "10.0.0.1"
    assert row["target_port"] == 80
    assert row["request_verb"] == "GET"
    assert row["request_url"] == "http://www.example.com:80/"
    assert row["request_proto"] == "HTTP/1.1"
    assert row["ssl_cipher"] == "-"  # '-' is kept in string columns
    assert row["conn_trace_id"] == "TID_1234abcd5678ef90"
    assert row["transformed_host"] == "-"
    assert row["request_ts"].isoformat() == "2018-07-02T22:23:00.186000+00:00"  # type: ignore[attr-defined]
    assert row["source_line"] == 1


def test_no_target_is_empty_ip_and_null_port() -> None:
    row = assert_matches_athena(LAMBDA_FAILED)
    assert row["target_ip"] == ""
    assert row["target_port"] is None
    assert row["target_status_code"] == "-"
    assert row["lambda_error_reason"] == "LambdaInvalidResponse"


def test_minus_one_timings_are_kept() -> None:
    line = HTTP.replace("0.000 0.001 0.000 200 200", "-1 -1 -1 504 -")
    row = assert_matches_athena(line)
    assert row["request_processing_time"] == -1.0
    assert row["target_processing_time"] == -1.0
    assert row["target_status_code"] == "-"


def test_ipv6_splits_on_the_last_colon() -> None:
    line = HTTP.replace(
        "192.168.131.39:2817 10.0.0.1:80", "2001:db8::7:2817 fd6d:6bbc::face:f46:80"
    )
    row = assert_matches_athena(line)
    assert (row["client_ip"], row["client_port"]) == ("2001:db8::7", 2817)
    assert (row["target_ip"], row["target_port"]) == ("fd6d:6bbc::face:f46", 80)


def test_space_in_uri_stays_in_the_url() -> None:
    line = HTTP.replace("http://www.example.com:80/ HTTP", "http://www.example.com:80/a b;c HTTP")
    row = assert_matches_athena(line)
    assert row["request_url"] == "http://www.example.com:80/a b;c"
    assert row["request_proto"] == "HTTP/1.1"


@pytest.mark.parametrize(
    ("request_line", "verb", "url", "proto"),
    [
        ("- http://example.com:8080- -", "-", "http://example.com:8080-", "-"),
        # ALB's trailing space: AWS's greedy split keeps the protocol in the URL.
        ("- http://example.com:8080- ", "-", "http://example.com:8080-", ""),
        ("GET http://x:80/ HTTP/1.0 ", "GET", "http://x:80/ HTTP/1.0", ""),
    ],
)
def test_malformed_request_lines_split_like_athena(
    request_line: str, verb: str, url: str, proto: str
) -> None:
    row = assert_matches_athena(
        HTTP.replace("GET http://www.example.com:80/ HTTP/1.1", request_line)
    )
    assert (row["request_verb"], row["request_url"], row["request_proto"]) == (verb, url, proto)


OLD_18_FIELDS = (
    "http 2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 "
    '0.001069 0.000028 0.000041 - - 82 305 "- - - " "-" - - '
    "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "
    '"Root=1-58337262-36d228ad5d99923122bbe354"'
)


def test_oldest_format_is_a_row_with_absent_fields_null() -> None:
    assert parse_line(OLD_18_FIELDS) is None  # AWS's table cannot read it at all
    row = one_row(OLD_18_FIELDS)
    assert row["trace_id"] == "Root=1-58337262-36d228ad5d99923122bbe354"
    assert row["elb_status_code"] is None
    # On lines AWS cannot read, ALB's trailing space is dropped before the split.
    assert (row["request_verb"], row["request_url"], row["request_proto"]) == ("-", "-", "-")
    for absent in ("domain_name", "lambda_error_reason", "conn_trace_id", "transformed_host"):
        assert row[absent] is None


def test_29_field_line_has_empty_conn_trace_id_like_athena() -> None:
    line = HTTP.split(" TID_")[0]
    row = assert_matches_athena(line)
    assert row["conn_trace_id"] == ""
    assert row["transformed_host"] is None


def test_extra_trailing_fields_are_accepted_and_ignored() -> None:
    line = HTTP + ' 10.0.9.9 "-" "-" "future" more fields "here"'
    row = assert_matches_athena(line)
    assert row["ip_address"] == "10.0.9.9"
    assert row["elb_error_code"] == "-"


def test_unquoted_target_lists_are_read() -> None:
    line = HTTP.replace('"10.0.0.1:80" "200"', "10.0.0.1:80 200")
    assert parse_line(line) is None  # AWS's regex wants the quotes
    row = one_row(line)
    assert (row["target_port_list"], row["target_status_code_list"]) == ("10.0.0.1:80", "200")


def test_escaped_bytes_are_kept_as_written() -> None:
    line = HTTP.replace("curl/7.46.0", r"\x22Mozilla\x22 \xC3\x88")
    row = assert_matches_athena(line)
    assert row["user_agent"] == r"\x22Mozilla\x22 \xC3\x88"


def test_mixed_field_counts_in_one_object() -> None:
    short = HTTP.split(" TID_")[0]
    lines = [HTTP if i % 3 else short for i in range(200)]
    parsed = parse_lines(*lines)
    assert parsed.rejects.num_rows == 0
    assert parsed.rows.column("source_line").to_pylist() == list(range(1, 201))
    ids = parsed.rows.column("conn_trace_id").to_pylist()
    assert ids == ["TID_1234abcd5678ef90" if i % 3 else "" for i in range(200)]


def test_rows_keep_line_order_and_numbers_after_a_fallback() -> None:
    raw_quote = HTTP.replace("curl/7.46.0", 'curl "raw" 7.46')
    parsed = parse_lines(HTTP, raw_quote, HTTP, "", HTTP)
    assert parsed.rows.column("source_line").to_pylist() == [1, 2, 3, 5]
    assert parsed.rows.column("user_agent").to_pylist()[1] == 'curl "raw" 7.46'
    assert parsed.rejects.to_pylist() == [
        {"source_key": None, "source_line": 4, "raw_line": "", "reason": rejects.BLANK_LINE}
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", rejects.BLANK_LINE),
        (
            "Enable AccessLog for ELB: app/elb-name/abc123456 at 2025-05-30T16:47:00.781Z",
            rejects.TEST_MESSAGE,
        ),
        (
            "tls 2.0 2018-12-20T02:59:40 net/my-nlb/c6e77e28c25b2234 g3d4b5e8bb8464cd "
            "192.168.131.39:2817 10.0.0.1:80 5 2 98 246 - arn - ECDHE-RSA-AES128-SHA tlsv12 - "
            "my-nlb.elb.us-east-2.amazonaws.com - - - 2018-12-20T02:59:30",
            rejects.NLB_ENTRY,
        ),
        (
            "2021-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 "
            "0.000073 0.001048 0.000057 200 200 0 29 "
            '"GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -',
            rejects.CLASSIC_ELB_ENTRY,
        ),
        (
            "2024-11-29T13:45:24.599544Z 172.31.43.26 58206 80 - - - "
            '"-" - - - TID_16132ed0b4112148',
            rejects.CONNECTION_LOG_ENTRY,
        ),
        ("http 2023-04-01T12:00:00Z alb", rejects.TOO_FEW_FIELDS),
        ('http "unterminated 2018-07-02T22:23:00.186641Z', rejects.UNBALANCED_QUOTES),
        (HTTP.replace("2018-07-02T22:23:00.186641Z", "yesterday", 1), rejects.BAD_TIME),
    ],
)
def test_non_entries_are_rejected_with_a_reason(line: str, reason: str) -> None:
    parsed = parse_lines(HTTP, line, HTTP)
    assert parsed.rows.num_rows == 2
    assert parsed.rejects.to_pylist() == [
        {"source_key": None, "source_line": 2, "raw_line": line, "reason": reason}
    ]


def test_unterminated_quote_does_not_swallow_the_next_lines() -> None:
    parsed = parse_lines(HTTP, 'http "oops', HTTP, HTTP)
    assert parsed.rows.column("source_line").to_pylist() == [1, 3, 4]
    assert parsed.rejects.column("reason").to_pylist() == [rejects.UNBALANCED_QUOTES]


def test_crlf_line_ends() -> None:
    parsed = parse_text(f"{HTTP}\r\n{LAMBDA_FAILED}\r\n")
    assert parsed.rows.num_rows == 2
    assert parsed.rows.column("conn_trace_id").to_pylist() == ["TID_1234abcd5678ef90"] * 2
    assert parsed.rows.column("transformed_host").to_pylist() == ["-", "-"]


def test_lone_carriage_return_keeps_line_numbers() -> None:
    parsed = parse_text(f"{HTTP}\njunk\rmore junk\n{HTTP}\n")
    assert parsed.rows.column("source_line").to_pylist() == [1, 3]
    assert parsed.rejects.column("source_line").to_pylist() == [2]


def test_binary_junk_and_bad_utf8_lose_nothing() -> None:
    junk = bytes(range(256)).replace(b"\n", b"").replace(b"\r", b"")
    bad_utf8 = HTTP.replace("curl/7.46.0", "curl-\udcff").encode("utf-8", "surrogateescape")
    data = b"\n".join([HTTP.encode(), junk, bad_utf8, junk[:40], HTTP.encode()]) + b"\n"
    parsed = parse_text(data)
    assert parsed.rows.num_rows + parsed.rejects.num_rows == 5
    assert parsed.rows.column("source_line").to_pylist() == [1, 3, 5]
    # Bytes that are not UTF-8 are written as ALB writes them: \xHH.
    assert parsed.rows.column("user_agent").to_pylist()[1] == r"curl-\xff"
    assert parsed.rejects.column("source_line").to_pylist() == [2, 4]


def test_a_600_kb_field() -> None:
    huge = "x" * 600_000
    line = HTTP.replace("curl/7.46.0", huge)
    parsed = parse_lines(HTTP, line, HTTP)
    assert parsed.rows.num_rows == 3
    assert parsed.rows.column("user_agent").to_pylist()[1] == huge


def test_empty_chunk() -> None:
    parsed = parse_text(b"")
    assert parsed.rows.num_rows == 0
    assert parsed.rejects.num_rows == 0
    assert parsed.rows.schema == PARSED_SCHEMA


def test_bad_numbers_are_null_like_athena() -> None:
    line = HTTP.replace("200 200 34 366", "2x0 200 - 99999999999999999999")
    row = one_row(line)
    assert row["elb_status_code"] is None
    assert row["received_bytes"] is None
    assert row["sent_bytes"] is None
    assert pa.types.is_int32(PARSED_SCHEMA.field("elb_status_code").type)


@pytest.mark.parametrize("time", ["2018-07-02T23:30:00-02:00", "2018-07-02", "2018-07-02T22:23:00"])
def test_times_other_than_utc_z_are_rejected_whatever_the_chunk(time: str) -> None:
    line = HTTP.replace("2018-07-02T22:23:00.186641Z", time, 1)
    alone = parse_lines(line)
    with_others = parse_lines(HTTP, line, HTTP)
    assert alone.rejects.column("reason").to_pylist() == [rejects.BAD_TIME]
    assert with_others.rejects.column("source_line").to_pylist() == [2]


# -- issue 12: nothing lost, whatever the line or its neighbours ---------------


def _outcome(parsed: ParsedChunk, line_number: int) -> dict[str, object]:
    """What became of one line: its row (less its line number) or its reject reason."""
    for row in parsed.rows.to_pylist():
        if row["source_line"] == line_number:
            return {k: v for k, v in row.items() if k != "source_line"}
    for reject in parsed.rejects.to_pylist():
        if reject["source_line"] == line_number:
            return {"reject": reject["reason"], "raw_line": reject["raw_line"]}
    raise AssertionError(f"line {line_number} is lost")


@pytest.mark.parametrize("time", ["0000-01-01T00:00:00.000000Z", "0000-12-31T23:59:59Z"])
def test_year_zero_is_a_bad_time_reject_not_a_crash(time: str) -> None:
    line = HTTP.replace("2018-07-02T22:23:00.186641Z", time, 1)
    for parsed in (parse_lines(line), parse_lines(HTTP, line, HTTP)):
        assert [r["reason"] for r in parsed.rejects.to_pylist()] == [rejects.BAD_TIME]
        assert parsed.rows.num_rows + parsed.rejects.num_rows == parsed.rows.num_rows + 1


@pytest.mark.parametrize(
    ("fraction", "microseconds"),
    [(".1234567", 123456), (".12345678", 123456), (".123456789", 123456), (".9", 900000)],
)
def test_seven_to_nine_fractional_digits_are_truncated_to_microseconds(
    fraction: str, microseconds: int
) -> None:
    time = f"2018-07-02T22:23:00{fraction}Z"
    line = HTTP.replace("2018-07-02T22:23:00.186641Z", time, 1)
    for parsed in (parse_lines(line), parse_lines(HTTP, line, HTTP)):
        assert parsed.rejects.num_rows == 0
        row = parsed.rows.to_pylist()[-2 if parsed.rows.num_rows > 1 else 0]
        # request_ts holds milliseconds; `time` keeps what the classifier can read.
        assert row["request_ts"].microsecond == microseconds // 1000 * 1000
        kept = fraction if len(fraction) <= 7 else f".{microseconds:06d}"
        assert row["time"] == f"2018-07-02T22:23:00{kept}Z"


@pytest.mark.parametrize(
    "tail",
    [' "-" "-" "-"', ' "TID_1" "-" "-"', ' "a b" "-" "-"', ' "" "-"', ' "-"'],
)
def test_quoted_conn_trace_id_keeps_its_quotes_like_athena(tail: str) -> None:
    line = HTTP.split(" TID_")[0] + tail
    row = assert_matches_athena(line)
    expected = parse_line(line)
    assert expected is not None
    assert row["conn_trace_id"] == expected["conn_trace_id"]
    assert str(row["conn_trace_id"]).startswith('"')
    # The same among many plain lines (CSV fast path) as alone.
    many = parse_lines(*([HTTP] * 40 + [line]))
    assert many.rows.column("conn_trace_id").to_pylist()[-1] == expected["conn_trace_id"]


@pytest.mark.parametrize(
    "tail",
    [
        ' "-" TID_12""34 "-" "-" "-"',  # a raw quote inside conn_trace_id
        ' "-"\tTID_1234 "-" "-" "-"',  # no space before it
        ' "-""x" "-" "-"',  # glued to classification_reason, quotes and all
    ],
)
def test_conn_trace_id_after_a_damaged_separator_is_read_like_athena(tail: str) -> None:
    line = HTTP.split(' "-" TID_')[0] + tail
    for parsed in (parse_lines(line), parse_lines(*([HTTP] * 40 + [line]))):
        expected = parse_line(line)
        assert expected is not None
        row = parsed.rows.to_pylist()[-1]
        assert {k: row[k] for k in AWS_NAMES} == expected


#: Lines whose reading once depended on their chunk (issue 12, item 8).
TRICKY = [
    # A raw quote inside the user agent (the ssl_cipher='(X11;' case).
    HTTP.replace("curl/7.46.0", 'Mozilla/5.0 "X11; Linux" (X11; x86_64)'),
    HTTP.replace("curl/7.46.0", 'Mozilla "evil'),
    HTTP.replace('"curl/7.46.0"', '"curl/7.46.0" "extra"'),
    HTTP.replace("curl/7.46.0", 'a" "b'),
    HTTP.replace('"GET http://www.example.com:80/ HTTP/1.1"', '"GET /x" HTTP/1.1"'),
    HTTP.replace("TID_1234abcd5678ef90", '"TID_x"'),
    HTTP.replace("0.000 0.001 0.000", "1e5 inf nan"),
    HTTP.replace("0.000 0.001 0.000", "+1 0x10 1_0"),
    HTTP.replace("200 200 34 366", "+200 200 34 366"),
    HTTP.replace("2018-07-02T22:23:00.186641Z", '"2018-07-02T22:23:00.186641Z"', 1),
    HTTP.replace("192.168.131.39:2817", '"192.168.131.39:2817"'),
    HTTP + ' "',
    HTTP[:-1],
    HTTP,
]
#: Neighbours that once sent a whole chunk down another path.
CONTEXTS: list[tuple[list[bytes], list[bytes]]] = [
    ([], []),
    ([HTTP.encode().replace(b"curl", b"curl\xff")], []),
    ([HTTP.encode()] * 40, [HTTP.encode()] * 3),
    ([HTTP.replace("curl/7.46.0", 'x"y').encode()], [HTTP.encode()]),
    ([b'http "unterminated'], [HTTP.encode()]),
    ([b"junk\rmore"], []),
    ([HTTP.encode()[:-1]] * 40, []),
    ([b'a "b c" d'] * 35, [HTTP.encode()]),
]


@pytest.mark.parametrize("line", TRICKY)
def test_a_line_reads_the_same_whatever_its_neighbours(line: str) -> None:
    alone = _outcome(parse_lines(line), 1)
    for i, (before, after) in enumerate(CONTEXTS):
        data = b"".join(x + b"\n" for x in [*before, line.encode(), *after])
        parsed = parse_text(data)
        assert parsed.rows.num_rows + parsed.rejects.num_rows == len(before) + len(after) + 1
        assert _outcome(parsed, len(before) + 1) == alone, f"context {i}"


def test_a_stray_quote_never_shifts_fields_into_a_normal_row() -> None:
    # The quote after "Linux" can close the user agent: the rest would land
    # one field later (ssl_cipher "(X11;"). Such a line is kept as a reject.
    line = TRICKY[0]
    for parsed in (parse_lines(line), parse_lines(*([line] * 40)), parse_lines(HTTP, line)):
        assert set(parsed.rows.column("ssl_cipher").to_pylist()) <= {"-"}
        assert set(parsed.rejects.column("reason").to_pylist()) == {rejects.UNBALANCED_QUOTES}


@pytest.mark.parametrize("separator", ["\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029"])
def test_entries_run_together_by_a_stray_separator_are_rejected(separator: str) -> None:
    merged = HTTP + separator + LAMBDA_FAILED
    for lines in ([merged], [HTTP, merged, HTTP], [HTTP] * 40 + [merged]):
        parsed = parse_lines(*lines)
        assert parsed.rows.num_rows == len(lines) - 1
        assert parsed.rejects.to_pylist() == [
            {
                "source_key": None,
                "source_line": lines.index(merged) + 1,
                "raw_line": merged,
                "reason": rejects.STRAY_LINE_SEPARATOR,
            }
        ]


@pytest.mark.parametrize(
    "time",
    ["2014-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"],
)
def test_times_before_the_projection_are_out_of_range_rejects(time: str) -> None:
    line = HTTP.replace("2018-07-02T22:23:00.186641Z", time, 1)
    parsed = parse_lines(HTTP, line)
    assert parsed.rows.column("source_line").to_pylist() == [1]
    assert parsed.rejects.column("reason").to_pylist() == [rejects.TIME_OUT_OF_RANGE]


def test_times_more_than_a_day_ahead_are_out_of_range_rejects() -> None:
    ahead = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    soon = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    far = "9999-12-31T23:59:59.999999Z"
    lines = [HTTP.replace("2018-07-02T22:23:00.186641Z", t, 1) for t in (ahead, soon, far)]
    parsed = parse_lines(*lines)
    assert parsed.rows.column("time").to_pylist() == [soon]
    assert parsed.rejects.column("reason").to_pylist() == [rejects.TIME_OUT_OF_RANGE] * 2
    # The bound is a parameter: an object from 2018 may not hold 2019's entries.
    data = f"{HTTP}\n{lines[1]}\n".encode()
    bounded = parse_chunk(Chunk(data, 1, 2), not_after=datetime(2018, 7, 3, tzinfo=UTC))
    assert bounded.rows.column("source_line").to_pylist() == [1]
    assert bounded.rejects.column("source_line").to_pylist() == [2]


def test_a_long_line_with_many_quotes_is_read_in_linear_time_and_memory() -> None:
    # 2 MiB of `" x` (a raw quote, then a space and a token with a quote): the
    # old regex tokenizer kept ~145 bytes per byte; here it is one search.
    line = HTTP.replace("curl/7.46.0", '" x' * (1 << 19))
    parsed = parse_lines(HTTP, line, HTTP)
    assert parsed.rows.num_rows + parsed.rejects.num_rows == 3
