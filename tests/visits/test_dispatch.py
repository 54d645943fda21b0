"""How the visit path sits in the app: ahead of FastAPI's middleware, which is refused rather
than left to skip ``/t/*`` without a word, and without touching sqlite3's process-wide state."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest
from fastapi import FastAPI, Request, Response
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from callpool.visits.dispatch import HotRoutesApp, MiddlewareSkipsHotRoutes


async def stamp(request: Request, call_next: RequestResponseEndpoint) -> Response:
    response = await call_next(request)
    response.headers["X-Seen"] = "yes"
    return response


def test_middleware_that_would_skip_the_visit_endpoints_is_refused(app: FastAPI) -> None:
    with pytest.raises(MiddlewareSkipsHotRoutes, match="/t/"):
        app.add_middleware(BaseHTTPMiddleware, dispatch=stamp)
    with pytest.raises(MiddlewareSkipsHotRoutes):
        app.middleware("http")(stamp)
    with pytest.raises(MiddlewareSkipsHotRoutes):
        HotRoutesApp(hot_routes={}, middleware=[Middleware(BaseHTTPMiddleware, dispatch=stamp)])
    assert app.user_middleware == []


def test_the_visit_path_leaves_sqlite3s_adapters_alone(app: FastAPI) -> None:
    # Its conversions are its own statements' (callpool.visits.sql): every other sqlite3
    # connection in the process binds values as the standard library does.
    protocol = sqlite3.PrepareProtocol
    for kind in (type(None), bool, dict, list):
        assert (kind, protocol) not in sqlite3.adapters
    assert sqlite3.adapters[(datetime, protocol)].__module__ == "sqlite3.dbapi2"
