"""The ALB access-log fields and the Arrow schemas of the two lake tables.

Field positions and names follow AWS's access-log documentation; the first
34 table columns are exactly AWS's own Athena table (``alb_access_logs``),
so existing queries run unchanged. See ``../shared/alb-log-format.md``.
"""

from __future__ import annotations

import pyarrow as pa

#: Space-separated fields of one log entry, in order (AWS's field names).
#: Index i is the i-th token of the line. Lines may end earlier (older
#: formats) or carry more trailing fields (newer formats); both are fine.
LOG_FIELDS: tuple[str, ...] = (
    "type",
    "time",
    "elb",
    "client:port",
    "target:port",
    "request_processing_time",
    "target_processing_time",
    "response_processing_time",
    "elb_status_code",
    "target_status_code",
    "received_bytes",
    "sent_bytes",
    "request",
    "user_agent",
    "ssl_cipher",
    "ssl_protocol",
    "target_group_arn",
    "trace_id",
    "domain_name",
    "chosen_cert_arn",
    "matched_rule_priority",
    "request_creation_time",
    "actions_executed",
    "redirect_url",
    "error_reason",
    "target:port_list",
    "target_status_code_list",
    "classification",
    "classification_reason",
    "conn_trace_id",
    "transformed_host",
    "transformed_uri",
    "request_transform_status",
    "ip_address",
    "target_error_code",
    "elb_error_code",
)

#: The oldest ALB lines end after trace_id; anything shorter is truncated.
MIN_FIELDS = LOG_FIELDS.index("trace_id") + 1
#: Lines from the 2021 format on (classification fields) are the ones AWS's
#: Athena regex reads; its optional conn_trace_id group then yields "".
AWS_REGEX_MIN_FIELDS = LOG_FIELDS.index("classification_reason") + 1

#: ALB's ``time`` (and the first field of Classic ELB and connection logs):
#: ISO 8601 in UTC, always with ``Z``, so its first 10 characters are the UTC day.
ISO_TIME_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$"

#: AWS's Athena table ``alb_access_logs``: names and types, in order.
AWS_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("type", pa.string()),
    pa.field("time", pa.string()),
    pa.field("elb", pa.string()),
    pa.field("client_ip", pa.string()),
    pa.field("client_port", pa.int32()),
    pa.field("target_ip", pa.string()),
    pa.field("target_port", pa.int32()),
    pa.field("request_processing_time", pa.float64()),
    pa.field("target_processing_time", pa.float64()),
    pa.field("response_processing_time", pa.float64()),
    pa.field("elb_status_code", pa.int32()),
    pa.field("target_status_code", pa.string()),
    pa.field("received_bytes", pa.int64()),
    pa.field("sent_bytes", pa.int64()),
    pa.field("request_verb", pa.string()),
    pa.field("request_url", pa.string()),
    pa.field("request_proto", pa.string()),
    pa.field("user_agent", pa.string()),
    pa.field("ssl_cipher", pa.string()),
    pa.field("ssl_protocol", pa.string()),
    pa.field("target_group_arn", pa.string()),
    pa.field("trace_id", pa.string()),
    pa.field("domain_name", pa.string()),
    pa.field("chosen_cert_arn", pa.string()),
    pa.field("matched_rule_priority", pa.string()),
    pa.field("request_creation_time", pa.string()),
    pa.field("actions_executed", pa.string()),
    pa.field("redirect_url", pa.string()),
    pa.field("lambda_error_reason", pa.string()),
    pa.field("target_port_list", pa.string()),
    pa.field("target_status_code_list", pa.string()),
    pa.field("classification", pa.string()),
    pa.field("classification_reason", pa.string()),
    pa.field("conn_trace_id", pa.string()),
)

#: Fields AWS added after its Athena table was written, under AWS's names.
NEWER_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("transformed_host", pa.string()),
    pa.field("transformed_uri", pa.string()),
    pa.field("request_transform_status", pa.string()),
    pa.field("ip_address", pa.string()),
    pa.field("target_error_code", pa.string()),
    pa.field("elb_error_code", pa.string()),
)

#: Columns alb502 adds: the parsed time, the tags and the evidence of
#: ``causes.md`` v2 (null on untagged entries; evidence on rules 4-5 only).
DERIVED_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("request_ts", pa.timestamp("ms", tz="UTC")),
    pa.field("error_source", pa.string()),
    pa.field("error_reason", pa.string()),
    pa.field("cause", pa.string()),
    pa.field("target_failure_run", pa.int32()),
    pa.field("target_gap_before_s", pa.float64()),
    pa.field("target_gap_after_s", pa.float64()),
    pa.field("tagger_version", pa.int32()),
)

#: The tag and evidence columns: what the classifier fills in.
TAG_COLUMNS: tuple[str, ...] = tuple(f.name for f in DERIVED_COLUMNS[1:])

#: The account and region that wrote the object, from its key (one bucket
#: can collect the logs of a whole organization).
ORIGIN_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("account_id", pa.string()),
    pa.field("region", pa.string()),
)

#: Where each row came from: the input object key (or path), 1-based line.
LINEAGE_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("source_key", pa.string()),
    pa.field("source_line", pa.int64()),
)

#: Schema of the Parquet files under ``alb_logs/``. The ``day`` partition
#: (``YYYY-MM-DD``) lives in the path, not in the files.
ALB_LOGS_SCHEMA = pa.schema(
    AWS_COLUMNS + NEWER_COLUMNS + DERIVED_COLUMNS + ORIGIN_COLUMNS + LINEAGE_COLUMNS
)

#: Schema of the Parquet files under ``alb_log_rejects/``.
REJECTS_SCHEMA = pa.schema(
    (*LINEAGE_COLUMNS, pa.field("raw_line", pa.string()), pa.field("reason", pa.string()))
)

#: The partition column of every table.
PARTITION_COLUMN = "day"

#: Table names, as in the lake layout and the Glue catalog.
ALB_LOGS_TABLE = "alb_logs"
#: The tagged rows of ``alb_logs`` only (``cause IS NOT NULL``), same columns
#: and layout: the error queries read 1-3 % of the traffic's bytes in Athena.
ALB_ERRORS_TABLE = "alb_errors"
REJECTS_TABLE = "alb_log_rejects"
#: Every table of the lake.
LAKE_TABLES = (ALB_LOGS_TABLE, ALB_ERRORS_TABLE, REJECTS_TABLE)
