"""Exceptions the library raises on purpose; each message is one clear line.

::

    Alb502Error
    ├── InputError          the object cannot be used (missing, not readable, corrupt)
    │   └── ReadInterrupted reading it failed on the way (connection cut, timeout): retry
    └── Deadline            time ran out before the end: retry

``retryable`` says whether trying the same object again may succeed; the
Lambda handler logs it, and the SQS queue retries every failed message.
"""

from __future__ import annotations


class Alb502Error(Exception):
    """Base class of alb502's own errors."""

    #: Whether the same object may succeed when tried again.
    retryable = False


class InputError(Alb502Error):
    """An input object cannot be used: missing, unreadable, not gzip, corrupt.

    Nothing has been written to the lake for it.
    """


class ReadInterrupted(InputError):
    """Reading an object failed on the way: a cut connection, a timeout, a short body.

    The object itself may be fine: nothing has been written for it, and the
    next attempt reads it again from the start.
    """

    retryable = True


class Deadline(Alb502Error):
    """Processing stopped before the end because time ran out.

    Nothing has been written to the lake, or the lake holds what it held
    before: the object can be retried whole.
    """

    retryable = True


class BackfillError(Alb502Error):
    """A backfill cannot start or cannot go on: no queue, no credentials, no
    such bucket, a bad date range, or messages SQS kept refusing.

    Raised before anything is sent when the setup is wrong; mid-way, what was
    sent stays sent (re-sending is harmless: the lake's keys are deterministic).
    """
