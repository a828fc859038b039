"""The AWS Lambda entry point: a thin adapter over ``alb502.pipeline``.

Deployed path: S3 ObjectCreated -> SQS -> this function, with partial batch
responses, so one bad object fails (and is retried, then dead-lettered)
alone. Also accepted, because users wire buckets differently: a direct S3
notification event, an EventBridge "Object Created" event, and S3
notifications wrapped by SNS inside SQS. Each named object goes through
``process_object`` into the lake named by ``ALB502_LAKE``; its counts go
out as EMF metrics (``alb502.metrics``) and one structured log line.

Cold start: module level imports only what every invocation runs (the
pipeline, with pyarrow, and the Logger its decorator needs). Powertools'
batch processor (asyncio with it) and its SQS data classes load on the first
SQS batch, the metrics emitter on the first object: a direct S3 or
EventBridge invocation never pays for the batch code, and an SQS one pays
for it in its first invocation instead of the init phase (both are billed).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger

from alb502.errors import Alb502Error, Deadline
from alb502.layout import ObjectKind, object_kind
from alb502.pipeline import process_object
from alb502.reader import S3_ATTEMPTS, s3_client

if TYPE_CHECKING:  # loaded on first use (see the module's docstring)
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from alb502.metrics import MetricsEmitter

logger = Logger(service="alb502")

#: Stop this long before Lambda's timeout: enough to abandon the object
#: cleanly (put back what the lake held) and report the message as failed.
DEFAULT_MARGIN_SECONDS = 20.0
#: botocore's own default connect and read timeouts: never waited longer.
MAX_SOCKET_TIMEOUT_SECONDS = 60.0


@functools.cache
def emitter() -> MetricsEmitter:
    """The function's one metrics emitter, built on first use."""
    from alb502.metrics import MetricsEmitter

    return MetricsEmitter()


@functools.cache
def processor() -> BatchProcessor:
    """The SQS batch processor, built (and its module imported) on first use."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    # An all-failed batch is still a partial response: raising instead would
    # make the event source mapping retry every message of it, good ones included.
    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


# A NamedTuple, not a frozen dataclass: same fields, equality and repr, and
# ~0.6 ms less at every cold start (a dataclass execs generated methods).
class ObjectRef(NamedTuple):
    """One S3 object named by a notification, key URL-decoded."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def object_refs(payload: Mapping[str, Any]) -> list[ObjectRef]:
    """The S3 objects one notification payload names; [] for ``s3:TestEvent``.

    Raises ``ValueError`` for a payload that is none of the known shapes, so
    its message fails visibly (and lands in the dead-letter queue) instead of
    being acknowledged unread.
    """
    if payload.get("Event") == "s3:TestEvent":
        return []
    if payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
        return object_refs(json.loads(payload["Message"]))  # S3 -> SNS -> SQS
    if payload.get("source") == "aws.s3" and "detail" in payload:
        if payload.get("detail-type") != "Object Created":
            return []
        detail = payload["detail"]
        # Unlike S3 notifications, EventBridge carries the key as is (AWS's
        # examples show raw ":"): decoding would corrupt a "+" or "%" in it.
        return [ObjectRef(detail["bucket"]["name"], detail["object"]["key"])]
    records = payload.get("Records")
    if isinstance(records, list):
        refs = []
        for record in records:
            if record.get("eventSource") != "aws:s3":
                raise ValueError(f"not an S3 notification record: {record.get('eventSource')!r}")
            if not str(record.get("eventName", "")).startswith("ObjectCreated"):
                continue
            s3 = record["s3"]
            # S3 URL-encodes keys in notifications ("+" for a space).
            refs.append(ObjectRef(s3["bucket"]["name"], unquote_plus(s3["object"]["key"])))
        return refs
    raise ValueError(f"not an S3 notification: keys {sorted(payload)[:8]}")


def lake() -> str:
    value = os.environ.get("ALB502_LAKE", "").strip()
    if not value:
        raise RuntimeError("ALB502_LAKE is not set: an s3://bucket/prefix URI or a directory")
    return value


def _margin_ms() -> float:
    return 1000 * float(os.environ.get("ALB502_DEADLINE_MARGIN_SECONDS", DEFAULT_MARGIN_SECONDS))


def _deadline(context: LambdaContext | None) -> Callable[[], bool]:
    if context is None:
        return lambda: False
    margin_ms = _margin_ms()
    return lambda: context.get_remaining_time_in_millis() < margin_ms


def socket_timeout(context: LambdaContext | None) -> float | None:
    """Connect and read timeout for this invocation's S3 requests, in seconds.

    All attempts of one request, and the waits between them, fit in the
    time left before the margin (a second at least), so a stalled connection
    fails, and the object is abandoned cleanly, before Lambda's timeout
    kills the function mid-write; ``None`` off Lambda.
    """
    if context is None:
        return None
    budget_s = (context.get_remaining_time_in_millis() - _margin_ms()) / 1000
    # botocore's standard mode sleeps up to 1 s, then 2 s, between attempts.
    waits_s = sum(2.0**attempt for attempt in range(S3_ATTEMPTS - 1))
    return max(1.0, min(MAX_SOCKET_TIMEOUT_SECONDS, (budget_s - waits_s) / S3_ATTEMPTS))


def handle_object(ref: ObjectRef, context: LambdaContext | None) -> None:
    """Process one object, or skip it if it is not an access log.

    Raises on any failure (missing or corrupt object, time running out),
    after one structured ERROR line naming the object and the error: the
    lake then holds what it held before, and the message is retried.
    """
    try:
        _handle_object(ref, context)
    except Exception as error:
        logger.error(
            "object failed",
            extra={
                "bucket": ref.bucket,
                "key": ref.key,
                **_error_fields(error),
                "retryable": isinstance(error, Alb502Error) and error.retryable,
            },
        )
        raise


def _handle_object(ref: ObjectRef, context: LambdaContext | None) -> None:
    kind = object_kind(ref.key)
    if kind is not ObjectKind.ACCESS_LOG:
        logger.info(
            "skipped: not an access log",
            extra={"bucket": ref.bucket, "key": ref.key, "kind": kind.value},
        )
        emitter().object_skipped()
        return
    should_stop = _deadline(context)
    if should_stop():
        raise Deadline(f"{ref.uri}: not started, too little time left")
    client = s3_client(timeout=socket_timeout(context))
    report = process_object(ref.uri, lake(), s3_client=client, should_stop=should_stop)
    logger.info(
        "processed",
        extra={
            "bucket": ref.bucket,
            "key": ref.key,
            "lines": report.lines,
            "rows": report.rows,
            "rejects": report.rejects,
            "causes": dict(report.causes),
            "other_5xx": dict(report.other_5xx),
            "elb_502": report.elb_502,
            "target_502": report.target_502,
            "outputs": len(report.outputs),
            "duration_s": round(report.seconds, 3),
        },
    )
    emitter().object_processed(report)


def _error_fields(error: Exception) -> dict[str, str]:
    """The error's class and the first line of its message, for one log line."""
    message = str(error)
    return {
        "error": type(error).__name__,
        "error_message": message.splitlines()[0] if message else "",
    }


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    """One SQS message: an S3 notification (possibly naming several objects)."""
    try:
        refs = object_refs(json.loads(record.body))
    except Exception as error:
        # Not a notification at all: no object to name, so the message is.
        logger.error(
            "message failed",
            extra={"message_id": record.message_id, **_error_fields(error)},
        )
        raise
    for ref in refs:
        handle_object(ref, lambda_context)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records")
    if isinstance(records, list) and records and records[0].get("eventSource") == "aws:sqs":
        from aws_lambda_powertools.utilities.batch import process_partial_response

        response: PartialItemFailureResponse = process_partial_response(
            event=event, record_handler=record_handler, processor=processor(), context=context
        )
        return dict(response)
    # Direct S3 or EventBridge invocation (asynchronous): raising makes
    # Lambda retry the event and then send it to its failure destination.
    refs = object_refs(event)
    failed = []
    for ref in refs:
        try:
            handle_object(ref, context)
        except Exception:  # handle_object has logged it
            failed.append(ref.key)
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(refs)} objects failed: {failed[:5]}")
    return {"objects": len(refs)}
