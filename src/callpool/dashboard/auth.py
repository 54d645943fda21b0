"""Who is looking at the dashboard: a signed session cookie, CSRF tokens, signing in and out.

The cookie is signed with ``CALLPOOL_SECRET_KEY`` (itsdangerous) and holds the session's CSRF
token and, once signed in, a random session token whose row in the database says who it is
(``callpool.accounts.sessions``): logging out, a password change or removal from the account
deletes the row, and every app process sees that on the next request. Every state-changing
request is a POST carrying the CSRF token in a hidden field: a page on another site can make
a browser POST here, but cannot read the token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from callpool.accounts import login, sessions
from callpool.client_address import client_address
from callpool.db import Database
from callpool.settings import Settings

COOKIE = "callpool_session"
SESSION_SECONDS = int(sessions.SESSION_LIFETIME.total_seconds())


@dataclass
class BrowserSession:
    """What the signed cookie says; ``dirty`` means the response must send it again."""

    csrf: str
    token: str | None = None  # a signed-in session's; the database says whose, if still live
    dirty: bool = False

    @classmethod
    def fresh(cls) -> BrowserSession:
        return cls(csrf=secrets.token_urlsafe(24), dirty=True)

    def sign_in(self, token: str) -> None:
        # A new CSRF token at sign-in: one planted before login (session fixation) is worthless.
        self.token, self.csrf, self.dirty = token, secrets.token_urlsafe(24), True


@dataclass(frozen=True)
class Viewer:
    """A signed-in user and the account they work in."""

    user_id: int
    email: str
    account_id: int
    account_name: str
    role: str
    csrf: str
    time_zone: str = "UTC"  # the account's: times on pages are shown in it


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
        data: Any = _serializer(request.app.state.settings).loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return None
    token = data.get("t")
    return BrowserSession(csrf=data["c"], token=token if isinstance(token, str) else None)


def save_session(request: Request, response: Response) -> None:
    """Send the cookie again if the session changed during this request."""
    session: BrowserSession | None = getattr(request.state, "browser_session", None)
    if session is None or not session.dirty:
        return
    payload: dict[str, Any] = {"c": session.csrf}
    if session.token is not None:
        payload["t"] = session.token
    response.set_cookie(
        COOKIE,
        _serializer(request.app.state.settings).dumps(payload),
        max_age=SESSION_SECONDS,
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


async def sign_in_with_password(request: Request, email: str, password: str) -> login.Outcome:
    """Check the password (throttled, see ``callpool.accounts.login``); on success the
    response carries a cookie of a new session."""
    result = await login.log_in(database_of(request), email, password, client_address(request))
    if result.token is not None:
        browser_session(request).sign_in(result.token)
    return result.outcome


def sign_out(request: Request, response: Response) -> None:
    """End this browser's session on the server (every process), then forget the cookie."""
    token = browser_session(request).token
    if token is not None:
        sessions.end_session(database_of(request), token)
    clear_session(request, response)


async def check_csrf(request: Request) -> None:
    """Reject a form POST whose token is missing or not this session's."""
    form = await request.form()
    sent = form.get("csrf")
    expected = browser_session(request).csrf
    if not isinstance(sent, str) or not secrets.compare_digest(sent, expected):
        raise HTTPException(
            403, "The form has expired or did not come from this site. Reload the page and retry."
        )


def database_of(request: Request) -> Database:
    """The app's database, for a page to hand to the services (which open transactions)."""
    database: Database = request.app.state.database
    return database


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class SignInRequired(Exception):
    """Raised for pages that need a user; the router answers with a redirect to the login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def signed_in_viewer(request: Request) -> Viewer | None:
    """The signed-in viewer, or ``None``; a session ended elsewhere is forgotten here too."""
    session = browser_session(request)
    if session.token is None:
        return None
    found = sessions.signed_in(database_of(request), session.token)
    if found is None:
        session.token, session.dirty = None, True
        return None
    return Viewer(
        found.user_id,
        found.email,
        found.account_id,
        found.account_name,
        found.role,
        session.csrf,
        found.time_zone,
    )


def current_viewer(request: Request) -> Viewer:
    viewer = signed_in_viewer(request)
    if viewer is None:
        raise SignInRequired(request.url.path)
    return viewer


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
CsrfChecked = Depends(check_csrf)
