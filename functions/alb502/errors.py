"""Exceptions the library raises on purpose; each message is one clear line."""

from __future__ import annotations


class Alb502Error(Exception):
    """Base class of alb502's own errors."""


class InputError(Alb502Error):
    """An input object cannot be used: missing, unreadable, not gzip, corrupt.

    Nothing has been written to the lake for it.
    """


class Deadline(Alb502Error):
    """Processing stopped before the end because time ran out.

    Nothing has been written to the lake: the object can be retried whole.
    """


class BackfillError(Alb502Error):
    """A backfill cannot start or cannot go on: no queue, no credentials, no
    such bucket, a bad date range, or messages SQS kept refusing.

    Raised before anything is sent when the setup is wrong; mid-way, what was
    sent stays sent (re-sending is harmless: the lake's keys are deterministic).
    """
