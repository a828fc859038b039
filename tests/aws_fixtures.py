"""AWS for tests, with alb502's cached S3 client reset on the way in and out
(a cached client would keep talking to the previous test's moto).

:func:`mocked_s3`: moto in process (``mock_aws``) with fake credentials, for
the writer and the handler. :func:`moto_server`: moto's server on 127.0.0.1
(:mod:`alb502.dev.local`), for the end-to-end paths that go over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from alb502 import reader
from alb502.dev.local import LocalAws, local_aws

REGION = "us-east-1"


@contextmanager
def mocked_s3(monkeypatch: pytest.MonkeyPatch, bucket: str) -> Iterator[Any]:
    """moto's in-process S3 with an empty ``bucket``; yields an S3 client."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        reader.reset_clients()
        try:
            client = boto3.client("s3", region_name=REGION)
            client.create_bucket(Bucket=bucket)
            yield client
        finally:
            reader.reset_clients()


@contextmanager
def moto_server() -> Iterator[LocalAws]:
    """moto's server on 127.0.0.1, with its endpoint in the environment."""
    with local_aws() as running:
        reader.reset_clients()
        try:
            yield running
        finally:
            reader.reset_clients()
