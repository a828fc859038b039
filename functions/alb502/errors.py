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
