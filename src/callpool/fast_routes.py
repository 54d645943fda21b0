"""Routes served ahead of FastAPI's own routing and middleware: the snippet's endpoints.

Every page view of every site calls them, and FastAPI's layers (its router, which tries the
app's routes one by one, exception telemetry, the exit stack) cost a visit about as much as
its own work. Here they are plain Starlette routes behind Starlette's exception handling,
with FastAPI's handler for ``HTTPException`` so that errors read the same as everywhere else.
The app's outermost layer (``ServerErrorMiddleware``) still wraps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, ExceptionHandler, Receive, Scope, Send


class FastRoutes:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.paths = frozenset(route.path for route in routes if isinstance(route, Route))
        handler = cast(ExceptionHandler, http_exception_handler)
        self.routes = ExceptionMiddleware(Router(list(routes)), handlers={HTTPException: handler})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            await self.routes(scope, receive, send)
        else:
            await self.app(scope, receive, send)
