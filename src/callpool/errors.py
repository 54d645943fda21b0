"""Small typed exceptions of the domain; the HTTP edge maps them to status codes."""

import logging

log = logging.getLogger(__name__)

# What a client is told while the database is away (``callpool.db.UNAVAILABLE``), and when to
# try again: about the time a restarted server or a released lock takes.
DATABASE_UNAVAILABLE = "The database is not answering; nothing was changed. Try again shortly."
RETRY_UNAVAILABLE = {"Retry-After": "5"}


def log_unavailable(error: Exception) -> None:
    """One line per refused request: the driver's own words, not a traceback."""
    cause = getattr(error, "orig", None) or error
    log.warning("database unavailable: %s: %s", type(cause).__name__, " ".join(str(cause).split()))


class CallpoolError(Exception):
    """Base class; ``str(error)`` is a message fit to show the user."""


class NotFound(CallpoolError):
    """The resource does not exist, or belongs to another account (never say which)."""


class Invalid(CallpoolError):
    """Input that cannot be accepted; nothing was changed."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(CallpoolError):
    """The request clashes with the current state (a duplicate, a pool being deleted, …)."""
