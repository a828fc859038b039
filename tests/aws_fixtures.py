"""AWS for tests, with alb502's cached S3 client reset on the way in and out
(a cached client would keep talking to the previous test's moto).

:func:`mocked_s3`: moto in process (``mock_aws``) with fake credentials, for
the writer and the handler. :func:`moto_server`: moto's server on 127.0.0.1
(:mod:`alb502.dev.local`), for the end-to-end paths that go over HTTP, and
:func:`new_pipeline` on it: the stack's buckets and queue, for one test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from alb502 import reader
from alb502.dev.local import LocalAws, Pipeline, create_pipeline, local_aws

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


def new_pipeline(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """A log bucket, queue and lake of their own (names no other test uses),
    with the handler's environment pointing at that lake and metrics on."""
    suffix = uuid.uuid4().hex[:8]
    made = create_pipeline(
        aws, log_bucket=f"logs-{suffix}", lake_bucket=f"lake-{suffix}", queue=f"q-{suffix}"
    )
    monkeypatch.setenv("ALB502_LAKE", made.lake)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    return made
