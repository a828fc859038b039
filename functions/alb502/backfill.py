"""Backfill: queue a log bucket's existing access logs for the deployed function.

A month of a busy fleet is ~10^10 lines: too much for one laptop, easy for
the Lambda fleet behind the queue. So this module does no parsing at all.
It finds the access-log objects of a date range and sends, for each one,
the message S3 itself would have sent to the queue when the object was
created; the deployed function handles them like any new object, and the
queue with the function's reserved concurrency is the throttle. Output
keys derive from input keys (``layout``), so sending an object twice
rewrites the same lake files: a backfill is idempotent and can be resumed
from any day.

Finding the objects never lists the whole bucket. ALB writes
``bucket[/prefix]/AWSLogs/<acct>/elasticloadbalancing/<region>/<yyyy>/<mm>/<dd>/``
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html,
"Access log files"), so accounts and regions are discovered with
``Delimiter="/"`` listings, and then only the range's day folders are
listed (with no ``--since``, the day folders are discovered the same way).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus, urlparse

from alb502.errors import BackfillError
from alb502.layout import ObjectKind, object_kind
from alb502.reader import parse_s3_uri, s3_client, s3_folders, s3_objects

#: SendMessageBatch takes at most 10 entries (SQS API reference,
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html).
BATCH_SIZE = 10
#: Sends of one batch's failed entries before giving up; SQS reports
#: throttled or internal failures per entry with ``SenderFault: false``.
SEND_ATTEMPTS = 5
#: Threads sending batches (boto3 clients are thread-safe).
SEND_THREADS = 8
_SERVICE = "elasticloadbalancing"
_ACCOUNT = re.compile(r"^\d{12}$")
_DATE_PARTS = ("yyyy", "mm", "dd")


def parse_day(text: str) -> date:
    """A ``YYYY-MM-DD`` day; :class:`BackfillError` with the reason otherwise."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise BackfillError(f"not a day: {text!r} (expected YYYY-MM-DD, UTC)") from None


@dataclass(frozen=True)
class LogRoot:
    """Where ALB's folders start in a bucket, and what the URI already fixed."""

    bucket: str
    #: ``[prefix/]AWSLogs/``: the folder that holds the account folders.
    awslogs: str
    account: str | None = None
    region: str | None = None


def log_root(uri: str) -> LogRoot:
    """Read ``s3://LOGBUCKET/PREFIX``: PREFIX is the load balancers' log prefix,
    or goes down into ``AWSLogs/<acct>/elasticloadbalancing/<region>/``.

    >>> log_root("s3://logs/prod/AWSLogs/123456789012/")
    LogRoot(bucket='logs', awslogs='prod/AWSLogs/', account='123456789012', region=None)
    """
    if not uri.startswith("s3://"):
        raise BackfillError(f"{uri}: not an s3:// URI (s3://LOGBUCKET/PREFIX)")
    location = parse_s3_uri(uri)
    parts = [p for p in location.key.split("/") if p]
    if "AWSLogs" not in parts:
        return LogRoot(location.bucket, "/".join([*parts, "AWSLogs"]) + "/")
    at = parts.index("AWSLogs")
    awslogs = "/".join(parts[: at + 1]) + "/"
    below = parts[at + 1 :]
    if len(below) > 3:
        raise BackfillError(
            f"{uri}: goes below the region folder; give the days with --since and --until"
        )
    if below and not _ACCOUNT.match(below[0]):
        raise BackfillError(f"{uri}: {below[0]!r} after AWSLogs/ is not a 12-digit account id")
    if len(below) > 1 and below[1] != _SERVICE:
        raise BackfillError(f"{uri}: not an ALB log folder ({below[1]!r}, not {_SERVICE!r})")
    return LogRoot(
        location.bucket,
        awslogs,
        account=below[0] if below else None,
        region=below[2] if len(below) > 2 else None,
    )


@dataclass(frozen=True)
class LogObject:
    """One access-log object to queue."""

    bucket: str
    key: str
    size: int
    etag: str
    last_modified: datetime
    #: The region folder it sits in: the bucket's region, since ALB only
    #: writes to a bucket in its own region.
    region: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def notification(obj: LogObject) -> str:
    """The body S3 sends to SQS for an ObjectCreated:Put of ``obj``.

    Shape of https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html:
    the key is URL-encoded as S3 encodes it (form encoding, "+" for a
    space), which is what ``handler.object_refs`` decodes.
    """
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": obj.region,
        "eventTime": obj.last_modified.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "alb502-backfill"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "alb502-backfill",
            "bucket": {"name": obj.bucket, "arn": f"arn:aws:s3:::{obj.bucket}"},
            "object": {"key": quote_plus(obj.key, safe="/"), "size": obj.size, "eTag": obj.etag},
        },
    }
    return json.dumps({"Records": [record]}, separators=(",", ":"))


# -- AWS clients and their errors -------------------------------------------------


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(error).__name__))


def _setup_error(what: str, error: Exception) -> BackfillError:
    """One line for a boto error at the start: credentials, a missing resource."""
    from botocore.exceptions import NoCredentialsError, NoRegionError

    if isinstance(error, NoCredentialsError):
        return BackfillError(
            "no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run 'aws sso login')"
        )
    if isinstance(error, NoRegionError):
        return BackfillError("no AWS region set (set AWS_REGION or AWS_DEFAULT_REGION)")
    code = _code(error)
    if code in (
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
    ):
        return BackfillError(f"{what}: AWS rejected the credentials ({code})")
    first = str(error).splitlines()[0] if str(error) else code
    return BackfillError(f"{what}: {first}")


def queue_region(queue_url: str) -> str | None:
    """The region in an SQS queue URL (``https://sqs.<region>.amazonaws.com/...``)."""
    host = urlparse(queue_url).hostname or ""
    match = re.match(r"^sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$", host) or re.match(
        r"^([a-z0-9-]+)\.queue\.amazonaws\.com(\.cn)?$", host
    )
    return match[1] if match else None


def sqs_client(queue_url: str) -> Any:
    """An SQS client in the queue's own region (the endpoint from boto's
    usual settings, ``AWS_ENDPOINT_URL_SQS`` / ``AWS_ENDPOINT_URL``)."""
    import boto3

    return boto3.session.Session().client("sqs", region_name=queue_region(queue_url))


def check_queue(sqs: Any, queue_url: str) -> None:
    """Fail before any work when the queue is not there or not reachable."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not queue_url.startswith(("https://", "http://")):
        raise BackfillError(f"{queue_url}: not a queue URL (the stack output QueueUrl)")
    try:
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    except ClientError as error:
        if _code(error) in (
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
            "NonExistentQueue",
        ):
            raise BackfillError(f"{queue_url}: no such queue") from None
        raise _setup_error(queue_url, error) from None
    except BotoCoreError as error:
        raise _setup_error(queue_url, error) from None


# -- finding the objects ----------------------------------------------------------


def _list_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def region_folders(s3: Any, root: LogRoot) -> list[tuple[str, str, str]]:
    """``(account, region, folder)`` for every region folder under the root."""
    uri = f"s3://{root.bucket}/{root.awslogs}"
    try:
        accounts = (
            [root.account]
            if root.account
            else [a for a in s3_folders(s3, root.bucket, root.awslogs) if _ACCOUNT.match(a)]
        )
        found = []
        for account in accounts:
            service = f"{root.awslogs}{account}/{_SERVICE}/"
            regions = [root.region] if root.region else s3_folders(s3, root.bucket, service)
            found += [(account, region, f"{service}{region}/") for region in regions]
    except _list_errors() as error:
        if _code(error) == "NoSuchBucket":
            raise BackfillError(f"s3://{root.bucket}: no such bucket") from None
        raise _setup_error(uri, error) from None
    if not found:
        raise BackfillError(
            f"{uri}: no {_SERVICE} folders there (is PREFIX the load balancers' log prefix?)"
        )
    return found


def _days_in(s3: Any, bucket: str, region_folder: str, until: date) -> set[date]:
    """The day folders of one region folder up to ``until``, by Delimiter listings."""
    days = set()
    for year in s3_folders(s3, bucket, region_folder):
        if not year.isdigit() or int(year) > until.year:
            continue
        for month in s3_folders(s3, bucket, f"{region_folder}{year}/"):
            for day in s3_folders(s3, bucket, f"{region_folder}{year}/{month}/"):
                try:
                    found = date(int(year), int(month), int(day))
                except ValueError:
                    continue  # not a folder ALB wrote
                if found <= until:
                    days.add(found)
    return days


@dataclass(frozen=True)
class DayFolder:
    account: str
    region: str
    prefix: str


def plan_days(
    s3: Any, root: LogRoot, since: date | None, until: date | None
) -> list[tuple[date, list[DayFolder]]]:
    """The days to queue, oldest first, each with its folders (one per account
    and region). With ``since`` the days are the range itself; without it
    they are discovered (a Delimiter listing per year and month)."""
    until = until or datetime.now(UTC).date()
    regions = region_folders(s3, root)
    by_day: dict[date, list[DayFolder]] = {}
    if since is not None:
        for offset in range((until - since).days + 1):
            day = since + timedelta(days=offset)
            by_day[day] = [
                DayFolder(account, region, f"{folder}{day:%Y/%m/%d}/")
                for account, region, folder in regions
            ]
    else:
        try:
            for account, region, folder in regions:
                for day in _days_in(s3, root.bucket, folder, until):
                    by_day.setdefault(day, []).append(
                        DayFolder(account, region, f"{folder}{day:%Y/%m/%d}/")
                    )
        except _list_errors() as error:
            raise _setup_error(f"s3://{root.bucket}/{root.awslogs}", error) from None
    return sorted(by_day.items())


def access_logs(s3: Any, bucket: str, folder: DayFolder) -> Iterator[LogObject]:
    """The access-log objects of one day folder (not connection or health
    check logs, not the test file)."""
    try:
        for item in s3_objects(s3, bucket, folder.prefix):
            if object_kind(item["Key"]) is ObjectKind.ACCESS_LOG:
                yield LogObject(
                    bucket=bucket,
                    key=item["Key"],
                    size=int(item["Size"]),
                    etag=str(item.get("ETag", "")).strip('"'),
                    last_modified=item["LastModified"],
                    region=folder.region,
                )
    except _list_errors() as error:
        raise BackfillError(
            f"s3://{bucket}/{folder.prefix}: cannot list ({_code(error)})"
        ) from None


# -- sending ----------------------------------------------------------------------


def send_batch(
    sqs: Any,
    queue_url: str,
    bodies: Sequence[str],
    *,
    attempts: int = SEND_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send up to 10 bodies with SendMessageBatch; resend the entries SQS
    reports failed (with backoff) until all are in. Returns the calls made.

    A batch can succeed in part with HTTP 200, so the ``Failed`` list is read
    every time; an entry failed through the sender's fault (``SenderFault``)
    would fail again and stops the backfill at once.
    """
    if len(bodies) > BATCH_SIZE:
        raise ValueError(f"at most {BATCH_SIZE} messages per batch")
    pending = {str(n): body for n, body in enumerate(bodies)}
    from botocore.exceptions import BotoCoreError, ClientError

    for attempt in range(attempts):
        if attempt:
            sleep(min(0.2 * 2**attempt, 5.0))
        try:
            response = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": n, "MessageBody": body} for n, body in pending.items()],
            )
        except (ClientError, BotoCoreError) as error:
            raise _setup_error(queue_url, error) from None
        for done in response.get("Successful", []):
            pending.pop(done["Id"], None)
        for failed in response.get("Failed", []):
            if failed.get("SenderFault"):
                raise BackfillError(
                    f"{queue_url}: SQS refused a message ({failed.get('Code')}: "
                    f"{failed.get('Message', '')})"
                )
        if not pending:
            return attempt + 1
    raise BackfillError(
        f"{queue_url}: {len(pending)} messages still failing after {attempts} sends"
    )


# -- the whole run ----------------------------------------------------------------


@dataclass
class Totals:
    objects: int = 0
    bytes: int = 0
    messages: int = 0
    batches: int = 0


@dataclass
class DayDone:
    """Progress after one day: what that day queued, and the totals so far."""

    day: date
    index: int  # 1-based
    days: int
    objects: int
    bytes: int
    totals: Totals


@dataclass
class Backfill:
    """The result: totals, the days covered, and the last one completed."""

    days: list[date] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)
    last_day: date | None = None


def backfill(
    source: str,
    queue_url: str | None,
    *,
    since: date | None = None,
    until: date | None = None,
    dry_run: bool = False,
    s3: Any = None,
    sqs: Any = None,
    on_day: Callable[[DayDone], None] | None = None,
    on_object: Callable[[LogObject], None] | None = None,
) -> Backfill:
    """Queue every access log of ``source`` in [since, until] (UTC days, by the
    key's date folders) on ``queue_url``, one S3-shaped message per object.

    The queue is checked first (GetQueueAttributes), so a wrong URL or
    missing credentials fail before any listing. With ``dry_run`` nothing is
    sent (and ``queue_url`` may be None); ``on_object`` sees each object
    either way. ``on_day`` is called after each day is fully queued: its day
    is where a resumed run can start.
    """
    if queue_url is None and not dry_run:
        raise BackfillError("--queue is required (the stack output QueueUrl)")
    until = until or datetime.now(UTC).date()
    if since and since > until:
        raise BackfillError(f"--since {since} is after --until {until}")
    root = log_root(source)
    if queue_url is not None:
        sqs = sqs or sqs_client(queue_url)
        check_queue(sqs, queue_url)
    if s3 is None:
        s3 = s3_client()
    plan = plan_days(s3, root, since, until)
    result = Backfill(days=[day for day, _ in plan])
    totals = result.totals
    sender = None if dry_run or queue_url is None else _Sender(sqs, queue_url, totals)
    try:
        for index, (day, folders) in enumerate(plan, start=1):
            objects = size = 0
            for batch in _batches(o for f in folders for o in access_logs(s3, root.bucket, f)):
                for obj in batch:
                    if on_object is not None:
                        on_object(obj)
                if sender is not None:
                    sender.submit([notification(o) for o in batch])
                objects += len(batch)
                size += sum(o.size for o in batch)
            if sender is not None:
                sender.wait_all()  # the day is done only when all its batches are in
            totals.objects += objects
            totals.bytes += size
            result.last_day = day
            if on_day is not None:
                on_day(DayDone(day, index, len(plan), objects, size, totals))
    finally:
        if sender is not None:
            sender.close()
    return result


class _Sender:
    """Sends batches on a few threads, a bounded number in flight.

    One SendMessageBatch takes tens of milliseconds in the region and more
    from a laptop far from it, so one thread queues a few hundred objects a
    second at best; a month of a fleet is millions of objects.
    """

    def __init__(self, sqs: Any, queue_url: str, totals: Totals) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._sqs = sqs
        self._queue_url = queue_url
        self._totals = totals
        self._pool = ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="alb502-backfill")
        self._pending: set[Future[tuple[int, int]]] = set()

    def _send(self, bodies: list[str]) -> tuple[int, int]:
        return send_batch(self._sqs, self._queue_url, bodies), len(bodies)

    def submit(self, bodies: list[str]) -> None:
        if len(self._pending) >= 2 * SEND_THREADS:
            self._collect(FIRST_COMPLETED)
        self._pending.add(self._pool.submit(self._send, bodies))

    def wait_all(self) -> None:
        self._collect(ALL_COMPLETED)

    def _collect(self, return_when: str) -> None:
        done, self._pending = wait(self._pending, return_when=return_when)
        for future in done:
            calls, messages = future.result()  # the first error stops the backfill
            self._totals.batches += calls
            self._totals.messages += messages

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _batches(objects: Iterable[LogObject]) -> Iterator[list[LogObject]]:
    batch: list[LogObject] = []
    for obj in objects:
        batch.append(obj)
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch
