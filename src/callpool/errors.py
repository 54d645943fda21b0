"""Small typed exceptions of the domain; the HTTP edge maps them to status codes."""


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
