"""Who is looking at the dashboard: a signed session cookie, CSRF tokens, a login throttle.

The cookie is signed with ``CALLPOOL_SECRET_KEY`` (itsdangerous) and holds the user id and the
session's CSRF token; nothing is stored on the server, so any number of app processes can
serve the dashboard. Every state-changing request is a POST carrying the token in a hidden
field: a page on another site can make a browser POST here, but cannot read the token.
"""

from __future__ import annotations

import secrets
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from callpool import clock
from callpool.accounts.users import account_of
from callpool.db import Database
from callpool.models import User
from callpool.settings import Settings

COOKIE = "callpool_session"
SESSION_DAYS = 14
LOGIN_FAILURES_ALLOWED = 5
LOGIN_FAILURE_WINDOW = timedelta(minutes=15)


@dataclass
class BrowserSession:
    """What the signed cookie says; ``dirty`` means the response must send it again."""

    csrf: str
    user_id: int | None = None
    dirty: bool = False

    @classmethod
    def fresh(cls) -> BrowserSession:
        return cls(csrf=secrets.token_urlsafe(24), dirty=True)

    def sign_in(self, user_id: int) -> None:
        # A new token at sign-in: a token planted before login (session fixation) is worthless.
        self.user_id, self.csrf, self.dirty = user_id, secrets.token_urlsafe(24), True


@dataclass(frozen=True)
class Viewer:
    """A signed-in user and the account they work in."""

    user_id: int
    email: str
    account_id: int
    account_name: str
    role: str
    csrf: str


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="callpool-dashboard-session")


def browser_session(request: Request) -> BrowserSession:
    """The request's session, read once; a new one (with a CSRF token) when there is none."""
    cached: BrowserSession | None = getattr(request.state, "browser_session", None)
    if cached is not None:
        return cached
    session = _read_cookie(request) or BrowserSession.fresh()
    request.state.browser_session = session
    return session


def _read_cookie(request: Request) -> BrowserSession | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data: Any = _serializer(request.app.state.settings).loads(raw, max_age=SESSION_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return None
    user_id = data.get("u")
    return BrowserSession(csrf=data["c"], user_id=user_id if isinstance(user_id, int) else None)


def save_session(request: Request, response: Response) -> None:
    """Send the cookie again if the session changed during this request."""
    session: BrowserSession | None = getattr(request.state, "browser_session", None)
    if session is None or not session.dirty:
        return
    payload: dict[str, Any] = {"c": session.csrf}
    if session.user_id is not None:
        payload["u"] = session.user_id
    response.set_cookie(
        COOKIE,
        _serializer(request.app.state.settings).dumps(payload),
        max_age=SESSION_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=_over_https(request),
        path="/",
    )


def _over_https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS. Behind a TLS-terminating proxy the app sees
    plain HTTP, so a request for the public URL's host counts when that URL is https."""
    public = urlsplit(request.app.state.settings.public_url)
    return request.url.scheme == "https" or (
        public.scheme == "https" and request.url.hostname == public.hostname
    )


def clear_session(request: Request, response: Response) -> None:
    request.state.browser_session = BrowserSession.fresh()
    response.delete_cookie(COOKIE, path="/")


async def check_csrf(request: Request) -> None:
    """Reject a form POST whose token is missing or not this session's."""
    form = await request.form()
    sent = form.get("csrf")
    expected = browser_session(request).csrf
    if not isinstance(sent, str) or not secrets.compare_digest(sent, expected):
        raise HTTPException(
            403, "The form has expired or did not come from this site. Reload the page and retry."
        )


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


class SignInRequired(Exception):
    """Raised for pages that need a user; the router answers with a redirect to the login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def current_viewer(request: Request) -> Viewer:
    session = browser_session(request)
    if session.user_id is not None:
        with _database(request).reader() as db:
            user = db.get(User, session.user_id)
            found = account_of(db, user.id) if user is not None else None
            if user is not None and found is not None:
                account, role = found
                return Viewer(user.id, user.email, account.id, account.name, role, session.csrf)
    raise SignInRequired(request.url.path)


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
CsrfChecked = Depends(check_csrf)


@dataclass
class LoginThrottle:
    """Failed sign-ins per (email, client address) within a sliding window.

    Kept in the process's memory: with several app processes an attacker gets the allowance
    once per process, which still turns millions of guesses into a handful.
    """

    allowed: int = LOGIN_FAILURES_ALLOWED
    window: timedelta = LOGIN_FAILURE_WINDOW
    failures: defaultdict[tuple[str, str], deque[datetime]] = field(
        default_factory=lambda: defaultdict(deque)
    )

    def _recent(self, key: tuple[str, str]) -> deque[datetime]:
        times = self.failures[key]
        horizon = clock.now() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        return times

    def blocked(self, email: str, address: str) -> bool:
        return len(self._recent((email, address))) >= self.allowed

    def failed(self, email: str, address: str) -> None:
        self._recent((email, address)).append(clock.now())

    def succeeded(self, email: str, address: str) -> None:
        self.failures.pop((email, address), None)


def login_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        throttle = request.app.state.login_throttle = LoginThrottle()
    return throttle


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
