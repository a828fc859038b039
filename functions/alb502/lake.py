"""Reading a lake written by alb502, local or in S3, for the report.

One place decides local or S3 (:func:`open_lake`): listing goes through
boto3 (its credential chain and the ``AWS_ENDPOINT_URL[_S3]`` endpoint, as
:mod:`alb502.reader` does), the Parquet reads through a pyarrow filesystem
built from the same credentials, so only the column chunks a report needs
are fetched (ranged GETs), not whole objects.

Pruning is by the ``day=YYYY-MM-DD`` partition in the path: a one-hour
report lists and reads that day's files only.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from alb502.errors import InputError
from alb502.fields import (
    ALB_ERRORS_TABLE,
    ALB_LOGS_SCHEMA,
    ALB_LOGS_TABLE,
    PARTITION_COLUMN,
    REJECTS_TABLE,
)
from alb502.reader import parse_s3_uri, s3_client, s3_folders, s3_objects

_DAY = re.compile(rf"^{PARTITION_COLUMN}=(\d{{4}}-\d\d-\d\d)$")


@dataclass(frozen=True)
class Lake:
    """A lake's root on a filesystem; ``root`` has no trailing slash."""

    uri: str
    filesystem: pafs.FileSystem
    root: str
    #: ``(bucket, prefix)`` for an S3 lake: listing goes through boto3.
    s3: tuple[str, str] | None = None

    def days(self, table: str) -> list[str]:
        """The ``day`` partitions of a table, sorted."""
        return sorted(m[1] for name in self._list_dirs(table) if (m := _DAY.match(name)))

    def files(self, table: str, days: Iterable[str]) -> dict[str, list[str]]:
        """Parquet files per day (paths on :attr:`filesystem`), in the given days."""
        return {day: self._list_files(f"{table}/{PARTITION_COLUMN}={day}") for day in days}

    def has(self, table: str) -> bool:
        return bool(self.days(table))

    # -- listing -------------------------------------------------------------

    def _list_dirs(self, relative: str) -> list[str]:
        if self.s3 is None:
            path = Path(self.root, relative)
            if not path.is_dir():
                return []
            return [e.name for e in os.scandir(path) if e.is_dir()]
        bucket, prefix = self.s3
        with self._listing():
            return s3_folders(s3_client(), bucket, f"{prefix}{relative}/")

    def _list_files(self, relative: str) -> list[str]:
        if self.s3 is None:
            path = Path(self.root, relative)
            if not path.is_dir():
                return []
            return sorted(
                str(path / e.name) for e in os.scandir(path) if e.is_file() and _is_data(e.name)
            )
        bucket, prefix = self.s3
        with self._listing():
            keys = [o["Key"] for o in s3_objects(s3_client(), bucket, f"{prefix}{relative}/")]
        return sorted(f"{bucket}/{key}" for key in keys if _is_data(key.rsplit("/", 1)[-1]))

    @contextmanager
    def _listing(self) -> Iterator[None]:
        """S3 listing errors as one-line input errors."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            yield
        except NoCredentialsError as error:
            raise InputError(
                f"{self.uri}: no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY)"
            ) from error
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            raise InputError(f"{self.uri}: cannot list the lake ({code})") from error
        except BotoCoreError as error:
            raise InputError(f"{self.uri}: cannot list the lake ({error})") from error


@contextmanager
def reading(lake: Lake) -> Iterator[None]:
    """Turn pyarrow's read errors (a corrupt file, S3 access denied mid-read)
    into one line naming the lake."""
    try:
        yield
    except (pa.ArrowException, OSError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{lake.uri}: cannot read the lake ({detail})") from error


def _is_data(name: str) -> bool:
    return name.endswith(".parquet") and not name.startswith((".", "_"))


def open_lake(uri: str | Path) -> Lake:
    """The lake at a local directory or ``s3://bucket/prefix``.

    Raises :class:`InputError` (one line) for a missing folder, an S3 URI
    without credentials or bucket, or a place that holds no lake.
    """
    text = str(uri)
    if text.startswith("s3://"):
        lake = _s3_lake(text)
    else:
        path = Path(text)
        if not path.exists():
            raise InputError(f"{text}: no such directory")
        if not path.is_dir():
            raise InputError(f"{text}: not a directory")
        lake = Lake(text, pafs.LocalFileSystem(), str(path.resolve()))
    if not lake.has(ALB_LOGS_TABLE) and not lake.has(ALB_ERRORS_TABLE):
        raise InputError(
            f"{text}: not an alb502 lake (no {ALB_LOGS_TABLE}/{PARTITION_COLUMN}=YYYY-MM-DD/ "
            "folders; write one with 'alb502 process')"
        )
    return lake


def _s3_lake(uri: str) -> Lake:
    location = parse_s3_uri(uri)
    prefix = location.key if not location.key or location.key.endswith("/") else location.key + "/"
    import boto3

    client = s3_client()
    # boto3's credential chain (environment, profile, instance role...),
    # handed to pyarrow so both read as the same principal.
    credentials = boto3.session.Session().get_credentials()
    if credentials is None:
        raise InputError(
            f"{uri}: no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY)"
        )
    frozen = credentials.get_frozen_credentials()
    endpoint = client.meta.endpoint_url
    options: dict[str, Any] = {
        "access_key": frozen.access_key,
        "secret_key": frozen.secret_key,
        "session_token": frozen.token,
        "region": client.meta.region_name or "us-east-1",
    }
    if endpoint and "amazonaws.com" not in endpoint:  # moto, MinIO, a VPC proxy...
        scheme, _, host = endpoint.partition("://")
        options["endpoint_override"] = host.rstrip("/")
        options["scheme"] = scheme
    elif client.meta.region_name is None:
        # No region configured: ask S3 where the bucket is, as boto3 would.
        with contextlib.suppress(OSError):
            options["region"] = pafs.resolve_s3_region(location.bucket)
    filesystem = pafs.S3FileSystem(**options)
    root = f"{location.bucket}/{prefix}".rstrip("/")
    return Lake(uri, filesystem, root, s3=(location.bucket, prefix))


def days_between(since: datetime | None, until: datetime | None, days: list[str]) -> list[str]:
    """The partitions that can hold entries in ``[since, until)``."""
    first = since.astimezone(UTC).strftime("%Y-%m-%d") if since else None
    # ``until`` is exclusive: a window ending at midnight needs not the next day.
    last = (
        (until.astimezone(UTC) - timedelta(milliseconds=1)).strftime("%Y-%m-%d") if until else None
    )
    return [d for d in days if (first is None or d >= first) and (last is None or d <= last)]


#: String columns with few distinct values (load balancers, target groups,
#: targets, tags): read as dictionaries, so decoding and grouping handle
#: small integer indices instead of copying millions of strings (grouping
#: 10M entries by target: 5x faster). ``request_url`` has too many distinct
#: values for that to pay.
DICTIONARY_COLUMNS = (
    "elb",
    "target_group_arn",
    "target_ip",
    "error_source",
    "error_reason",
    "cause",
)
_DICTIONARY_SCHEMA = pa.schema(
    [
        f.with_type(pa.dictionary(pa.int32(), f.type)) if f.name in DICTIONARY_COLUMNS else f
        for f in ALB_LOGS_SCHEMA
    ]
)
_FORMAT = ds.ParquetFileFormat(
    read_options=ds.ParquetReadOptions(dictionary_columns=set(DICTIONARY_COLUMNS))
)


def dataset(lake: Lake, files: list[str]) -> ds.Dataset:
    """The files as one dataset with ``alb_logs``'s schema (the columns of
    :data:`DICTIONARY_COLUMNS` dictionary-encoded: :func:`plain` undoes it).
    Files written by an older alb502, without the newer columns, read those
    as null."""
    return ds.dataset(files, schema=_DICTIONARY_SCHEMA, format=_FORMAT, filesystem=lake.filesystem)


def plain(table: pa.Table) -> pa.Table:
    """``table`` with dictionary columns decoded to their value type."""
    fields = [
        f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def rejects(lake: Lake, days: list[str]) -> pa.Table:
    """The ``reason`` column of the rejects of the given days."""
    files = [f for group in lake.files(REJECTS_TABLE, days).values() for f in group]
    if not files:
        return pa.table({"reason": pa.array([], pa.string())})
    return ds.dataset(files, format="parquet", filesystem=lake.filesystem).to_table(
        columns=["reason"]
    )
