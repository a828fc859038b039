"""The deployed pipeline, on this machine: moto's server as S3 and SQS.

Used by the end-to-end tests and ``make demo``. Everything goes over HTTP
through boto3, as in AWS: a log bucket whose ObjectCreated notifications go
to an SQS queue (with a dead-letter queue after 5 receives), a lake bucket,
and :class:`QueueRunner`, which plays the Lambda event source mapping:
receive a batch, call ``lambda_handler`` with an SQS-shaped event and a
Lambda-like context, delete the messages that did not fail.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account

#: The variables local_aws() sets; every other AWS_* endpoint override is
#: removed so nothing can reach a real account from here.
_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
_CLEARED = (
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


@dataclass(frozen=True)
class LocalAws:
    """A running moto server and clients for it."""

    endpoint: str
    region: str = REGION

    def client(self, service: str) -> Any:
        return boto3.session.Session().client(
            service, endpoint_url=self.endpoint, region_name=self.region
        )


@contextmanager
def local_aws() -> Iterator[LocalAws]:
    """Start moto's server on 127.0.0.1 (a free port) and point boto3 at it.

    Sets ``AWS_ENDPOINT_URL``, dummy credentials and the region for the
    duration, then restores the environment and stops the server.
    """
    from moto.server import ThreadedMotoServer

    # The server's per-request access log would drown the demo's output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {name: os.environ.get(name) for name in (*_ENV, *_CLEARED, "AWS_ENDPOINT_URL")}
    try:
        for name in _CLEARED:
            os.environ.pop(name, None)
        # A path that does not exist: no profile of the user's is ever read.
        os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        os.environ.update(_ENV)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        yield LocalAws(endpoint=endpoint)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


@dataclass(frozen=True)
class Pipeline:
    """The resources of a deployment: what the CDK stack creates in AWS."""

    log_bucket: str
    lake_bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str

    @property
    def lake(self) -> str:
        return f"s3://{self.lake_bucket}/"


def create_pipeline(
    aws: LocalAws,
    *,
    log_bucket: str = "alb-logs",
    lake_bucket: str = "alb502-lake",
    queue: str = "alb502-objects",
    visibility_timeout: int = 60,
) -> Pipeline:
    """Buckets, queue + DLQ, and the S3 -> SQS notification for all ObjectCreated.

    As in AWS, configuring the notification sends one ``s3:TestEvent``.
    """
    s3, sqs = aws.client("s3"), aws.client("sqs")
    s3.create_bucket(Bucket=log_bucket)
    s3.create_bucket(Bucket=lake_bucket)
    dlq_url = sqs.create_queue(QueueName=f"{queue}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=queue,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=log_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    return Pipeline(log_bucket, lake_bucket, queue_url, queue_arn, dlq_url)


class FakeContext:
    """The parts of the Lambda context the handler and Powertools read."""

    def __init__(self, timeout_seconds: float = 900.0, function_name: str = "alb502") -> None:
        self._deadline = time.monotonic() + timeout_seconds
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = 2048
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """What the event source mapping hands Lambda for received SQS messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3],
            }
            for m in messages
        ]
    }


@dataclass
class BatchOutcome:
    received: list[str] = field(default_factory=list)  # message ids
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


class QueueRunner:
    """Polls the queue and invokes the handler, as Lambda's event source mapping.

    Messages the handler reports in ``batchItemFailures`` are left on the
    queue (visible again after the visibility timeout, dead-lettered after
    5 receives); the others are deleted.
    """

    def __init__(
        self,
        aws: LocalAws,
        pipeline: Pipeline,
        handler: Handler | None = None,
        *,
        batch_size: int = 10,
        timeout_seconds: float = 900.0,
    ) -> None:
        if handler is None:
            from alb502.handler import lambda_handler

            handler = lambda_handler
        self._sqs = aws.client("sqs")
        self._pipeline = pipeline
        self._handler = handler
        self._batch_size = batch_size
        self._timeout = timeout_seconds

    def receive(self, wait_seconds: int = 0) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self._pipeline.queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return cast(list[dict[str, Any]], response.get("Messages", []))

    def invoke(self, messages: list[dict[str, Any]]) -> BatchOutcome:
        """One Lambda invocation on ``messages``; delete what succeeded."""
        started = time.perf_counter()
        event = sqs_event(messages, self._pipeline.queue_arn)
        context = cast(LambdaContext, FakeContext(self._timeout))
        response = self._handler(event, context)
        failed = [item["itemIdentifier"] for item in response.get("batchItemFailures", [])]
        done = [m for m in messages if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self._pipeline.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(done[i : i + 10])
                ],
            )
        return BatchOutcome(
            received=[m["MessageId"] for m in messages],
            failed=failed,
            seconds=time.perf_counter() - started,
        )

    def poll(self, wait_seconds: int = 0) -> BatchOutcome:
        messages = self.receive(wait_seconds)
        return self.invoke(messages) if messages else BatchOutcome()

    def drain(self, *, on_batch: Callable[[BatchOutcome], None] | None = None) -> BatchOutcome:
        """Invoke until a receive comes back empty; the totals of all batches."""
        total = BatchOutcome()
        while True:
            outcome = self.poll()
            if not outcome.received:
                return total
            total.received += outcome.received
            total.failed += outcome.failed
            total.seconds += outcome.seconds
            if on_batch is not None:
                on_batch(outcome)


def download_prefix(aws: LocalAws, bucket: str, prefix: str, dest: str | Path) -> list[Path]:
    """Copy every object under ``prefix`` to ``dest`` (same relative paths)."""
    s3 = aws.client("s3")
    written = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            target = Path(dest) / obj["Key"][len(prefix) :].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(target))
            written.append(target)
    return written
