"""The app: FastAPI, with the snippet's endpoints served ahead of its routing and middleware.

Every page view of every site calls them, and FastAPI's layers (its middleware stack, its
router, which tries the app's routes one by one, the exit stack of each request) cost a visit
about as much as its own work. Here the path is looked up in a dict and the endpoint is called
with a Starlette ``Request``; an ``HTTPException`` is answered by FastAPI's own handler, so that
errors read the same as everywhere else. An unexpected error goes to the server, which logs it
and answers 500, as it would from FastAPI.

So no middleware ever sees ``/t/*``. Rather than let one added later skip those paths without
a word, adding middleware is refused here: something every request needs (a header, a log
line) belongs in the ASGI server or in a wrapper around this whole app, where ``/t/*`` passes
through it too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class MiddlewareSkipsHotRoutes(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            "middleware added to the app would never see the /t/* endpoints, which are served "
            "ahead of it (callpool.visits.dispatch): wrap the whole ASGI app instead"
        )


class HotRoutesApp(FastAPI):
    def __init__(self, *, hot_routes: Mapping[str, Endpoint], **settings: Any) -> None:
        """``hot_routes``: ``POST`` endpoints by path, served first."""
        if settings.get("middleware"):
            raise MiddlewareSkipsHotRoutes()
        super().__init__(**settings)
        self.hot_routes = dict(hot_routes)

    def add_middleware(self, *args: Any, **kwargs: Any) -> None:
        """Refused (``@app.middleware`` comes here too): see the module's docstring."""
        raise MiddlewareSkipsHotRoutes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.hot_routes.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # what FastAPI would set: ``request.app``
        request = Request(scope, receive)
        try:
            if request.method != "POST":
                raise HTTPException(405, headers={"Allow": "POST"})
            response = await endpoint(request)
        except HTTPException as error:
            response = await http_exception_handler(request, error)
        await response(scope, receive, send)
