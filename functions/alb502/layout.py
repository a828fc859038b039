"""Object keys: what an S3 object is, and where its output goes in the lake.

ALB writes access logs as
``[prefix/]AWSLogs/<acct>/elasticloadbalancing/<region>/<yyyy>/<mm>/<dd>/
<acct>_elasticloadbalancing_<region>_app.<name>.<id>_<end>_<node-ip>_<random>.log.gz``
and puts connection logs (``conn_log.<acct>_...``), health check logs
(``health_check_log_<acct>_...``) and a test file in the same folders
(AWS's "Connection logs" and "Health check logs" pages of the ALB guide).
Output names derive from the input name only, so re-processing an object
overwrites its own output (idempotent without a database).
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime
from pathlib import PurePosixPath

from alb502.fields import LAKE_TABLES, PARTITION_COLUMN


class ObjectKind(enum.Enum):
    """What an object in a log bucket holds."""

    ACCESS_LOG = "access_log"
    CONNECTION_LOG = "connection_log"
    HEALTH_CHECK_LOG = "health_check_log"
    TEST_FILE = "test_file"
    OTHER = "other"


_ACCESS_LOG_NAME = re.compile(
    r"^\d{12}_elasticloadbalancing_[a-z0-9-]+_app\.[^_]+_(?P<end>\d{8}T\d{4}Z)_[^_]+_[^_]+\.log(\.gz)?$"
)
#: AWS documents ``conn_log.<acct>_...`` (a dot); an underscore has been seen
#: in buckets too, so both are a connection log.
_CONNECTION_LOG_NAME = re.compile(r"^conn_log[._]\d{12}_elasticloadbalancing_")
#: AWS documents ``health_check_log_<acct>_...``; a dot is accepted like above.
_HEALTH_CHECK_LOG_NAME = re.compile(r"^health_check_log[._]\d{12}_elasticloadbalancing_")
#: ``<acct>_elasticloadbalancing_<region>_``: every ALB log name starts so.
_ORIGIN = re.compile(r"^(?P<account>\d{12})_elasticloadbalancing_(?P<region>[a-z0-9-]+)_")
_END_TIME = re.compile(r"_(?P<end>\d{8}T\d{4}Z)_")
#: Where the lake files a commit replaces wait until it has succeeded
#: (lake-relative; outside every table's location, so never queried).
PREVIOUS_PREFIX = "_alb502_previous"
#: File name endings of log objects, longest first.
LOG_SUFFIXES = (".log.gz", ".log", ".gz")


def object_kind(key: str) -> ObjectKind:
    """Tell an access log from the other objects ALB writes beside it.

    >>> object_kind("AWSLogs/123456789012/ELBAccessLogTestFile").name
    'TEST_FILE'
    """
    name = PurePosixPath(key).name
    if name == "ELBAccessLogTestFile":
        return ObjectKind.TEST_FILE
    if _CONNECTION_LOG_NAME.match(name):
        return ObjectKind.CONNECTION_LOG
    if _HEALTH_CHECK_LOG_NAME.match(name):
        return ObjectKind.HEALTH_CHECK_LOG
    if _ACCESS_LOG_NAME.match(name):
        return ObjectKind.ACCESS_LOG
    return ObjectKind.OTHER


def stem(key: str) -> str:
    """The input file name without ``.log.gz``: the name of its outputs."""
    name = PurePosixPath(key).name
    for suffix in LOG_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def origin(key: str) -> tuple[str | None, str | None]:
    """The account id and region that wrote an ALB object, from its name.

    >>> origin("123456789012_elasticloadbalancing_eu-west-1_app.web.1a2b"
    ...        "_20261201T0005Z_10.0.0.1_x.log.gz")
    ('123456789012', 'eu-west-1')
    """
    match = _ORIGIN.match(PurePosixPath(key).name)
    return (match["account"], match["region"]) if match else (None, None)


def interval_end(key: str) -> datetime | None:
    """End of the 5-minute interval an ALB object covers, from its name."""
    match = _END_TIME.search(PurePosixPath(key).name)
    if match is None:
        return None
    try:
        return datetime.strptime(match["end"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    except ValueError:  # looks like a time, is not one (Feb 30): not ALB's name
        return None


def partition_path(table: str, day: str, object_stem: str) -> str:
    """Relative path of one output file: ``<table>/day=<day>/<stem>.parquet``."""
    if table not in LAKE_TABLES:
        raise ValueError(f"unknown table {table!r}")
    return f"{table}/{PARTITION_COLUMN}={day}/{object_stem}.parquet"
