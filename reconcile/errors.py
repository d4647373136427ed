"""The one exception hierarchy of the product / 例外の体系.

Every use case in :mod:`reconcile.service` (and the workflow, auth and scheduler code) raises one of
these when the caller asked for something that cannot be done. Each class carries the exit code the
CLI ends with and the HTTP status the API answers with; the CLI maps them once
(:func:`reconcile.cli.common.guarded`), the API once (problem+json).

Messages are Japanese first; an English text is kept beside it (``--lang en``)::

    raise NotFound("走査 999 はありません", "no scan 999")
    exc.text("en")  # "no scan 999"
    str(exc)        # "走査 999 はありません / no scan 999"

Codes (contract cli.md / api.md):

==================== ==== ====
class                exit HTTP
==================== ==== ====
FeedRejected            2  422
InvalidInput            2  422
Refused                 2  409
NotFound                2  404
Forbidden               2  403
Conflict                2  409
EnvironmentProblem      1  503
ReconcileError (base)   1  500
==================== ==== ====
"""
from __future__ import annotations

from typing import Any


class ReconcileError(Exception):
    """Base: something the product can explain in words (never shown as a traceback)."""

    exit_code: int = 1
    http_status: int = 500
    title: str = "Internal error"

    def __init__(self, ja: str, en: str | None = None, *, field: str | None = None,
                 value: Any = None, **details: Any):
        self.ja = ja
        self.en = en
        self.field = field
        self.value = value
        self.details = details
        self.message = str(self)
        super().__init__(self.message)

    def text(self, lang: str = "ja") -> str:
        """The message in one language (the other when only one was given)."""
        if lang == "en":
            return self.en or self.ja
        return self.ja

    def __str__(self) -> str:
        return f"{self.ja} / {self.en}" if self.en and self.en != self.ja else self.ja


class InvalidInput(ReconcileError):
    """A flag, argument, request field or file value is malformed (names which one)."""
    exit_code, http_status, title = 2, 422, "Invalid input"


class FeedRejected(InvalidInput):
    """The whole feed is refused (取込拒否): a required file or column is missing, a file unreadable.

    ``FeedRejected(file, column, message)`` — ``message`` is bilingual and names the file (and the
    column when one is at fault). :class:`reconcile.feeds.FeedRejected` is this class or a subclass.
    """
    exit_code, http_status, title = 2, 422, "Feed rejected"

    def __init__(self, file: str, column: str | None, message: str, en: str | None = None):
        self.file = file
        self.column = column
        super().__init__(message, en, field=column, value=file)


class Refused(ReconcileError):
    """Understood, but refused as things stand (an older feed, a truncated feed, a held lock)."""
    exit_code, http_status, title = 2, 409, "Refused"


class NotFound(ReconcileError):
    """No such scan / item / user (or not one the caller may see)."""
    exit_code, http_status, title = 2, 404, "Not found"


class Forbidden(ReconcileError):
    """The caller's role may not do this."""
    exit_code, http_status, title = 2, 403, "Forbidden"


class Conflict(ReconcileError):
    """The thing changed under the caller (held by another steward, already exists)."""
    exit_code, http_status, title = 2, 409, "Conflict"


class EnvironmentProblem(ReconcileError):
    """Database unreachable or not set up, disk full, key missing: the machine, not the input."""
    exit_code, http_status, title = 1, 503, "Service unavailable"


__all__ = ["ReconcileError", "InvalidInput", "FeedRejected", "Refused", "NotFound", "Forbidden",
           "Conflict", "EnvironmentProblem"]
