"""The FastAPI application: routers of each domain package, error mapping, shared state."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from callpool import __version__
from callpool.accounts.api import account_router
from callpool.accounts.api import router as api_keys_router
from callpool.accounts.service import ensure_bootstrap_key
from callpool.calls.api import router as calls_router
from callpool.calls.webhooks import router as webhooks_router
from callpool.dashboard import router as dashboard_router
from callpool.db import UNAVAILABLE, Database
from callpool.demo.api import router as demo_router
from callpool.errors import (
    DATABASE_UNAVAILABLE,
    RETRY_UNAVAILABLE,
    Conflict,
    Invalid,
    NotFound,
    log_unavailable,
)
from callpool.integrations.ga4.api import router as ga4_router
from callpool.integrations.google_ads.api import router as google_ads_router
from callpool.integrations.webhooks.api import router as outgoing_webhooks_router
from callpool.pools.api import router as pools_router
from callpool.reports.api import router as reports_router
from callpool.sessions.api import router as sessions_router
from callpool.settings import Settings, get_settings, with_secret
from callpool.sites.api import router as sites_router
from callpool.snippet.api import router as snippet_router
from callpool.telephony.base import Provider, ProviderError
from callpool.telephony.registry import provider_for
from callpool.visits.api import endpoints as visit_endpoints
from callpool.visits.api import visit_path
from callpool.visits.dispatch import HotRoutesApp


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    provider: Provider | None = None,
    *,
    database_ready: threading.Event | None = None,
) -> FastAPI:
    """``database_ready``: set once the database is migrated (``callpool serve`` may start
    while it is down, and serve calls from the routing table meanwhile); default: it is."""
    settings = with_secret(settings or get_settings())  # never an app without a secret
    database = database or Database(settings.database_url)
    provider = provider or provider_for(settings)
    ready = database_ready if database_ready is not None else _set_event()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Down at start: ``callpool serve`` creates the key once the database is back.
        if settings.bootstrap_api_key and ready.is_set():
            with database.session() as db:
                ensure_bootstrap_key(db, settings.bootstrap_api_key)
        stop_checkpoints = database.checkpoint_in_background() if database.is_sqlite else None
        yield
        if stop_checkpoints is not None:
            stop_checkpoints.set()

    app = HotRoutesApp(
        # The snippet's calls, the hot path: served ahead of FastAPI's routing and middleware,
        # with their site cache and group commit built here, once.
        hot_routes=visit_endpoints(visit_path(settings, database)),
        title="callpool",
        version=__version__,
        summary="Call tracking with Dynamic Number Insertion",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # from the app's own files, offline too: callpool.dashboard.assets
        redoc_url=None,
        lifespan=lifespan,
        # callpool exports no OpenTelemetry data; leaving it on costs every request a lookup
        # of the global providers.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.database = database
    app.state.provider = provider
    app.state.database_ready = ready
    # No middleware: it would never see /t/* (served ahead of it, see above), so HotRoutesApp
    # refuses any (``MiddlewareSkipsHotRoutes``). What every request needs goes in a wrapper
    # around the whole ASGI app.
    assert not app.user_middleware

    _map_domain_errors(app)

    # Routes are matched in order, one by one: the cheap and frequent ones come first.
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, bool]:
        """Liveness; also the benchmark's trivial endpoint."""
        return {"ok": True}

    app.include_router(sites_router)
    app.include_router(account_router)
    app.include_router(api_keys_router)
    app.include_router(snippet_router)
    app.include_router(demo_router)
    app.include_router(sessions_router)
    app.include_router(calls_router)
    app.include_router(webhooks_router)
    app.include_router(pools_router)
    app.include_router(reports_router)
    app.include_router(outgoing_webhooks_router)
    app.include_router(google_ads_router)
    app.include_router(ga4_router)
    app.include_router(dashboard_router)

    return app


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


def _map_domain_errors(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def not_found(_request: Request, error: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.exception_handler(Invalid)
    async def invalid(_request: Request, error: Invalid) -> JSONResponse:
        return JSONResponse({"detail": str(error), "field": error.field}, status_code=422)

    @app.exception_handler(Conflict)
    async def conflict(_request: Request, error: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=409)

    # The one place a carrier's failure becomes an HTTP answer (dashboard pages: DashboardRoute).
    @app.exception_handler(ProviderError)
    async def provider_failed(_request: Request, error: ProviderError) -> JSONResponse:
        return JSONResponse({"detail": error.explain()}, status_code=error.http_status)

    # Likewise for a database that is away (dashboard pages: DashboardRoute): 503 and when to
    # retry, never a 500, so that clients and load balancers try again.
    async def database_unavailable(_request: Request, error: Exception) -> JSONResponse:
        log_unavailable(error)
        return JSONResponse(
            {"detail": DATABASE_UNAVAILABLE}, status_code=503, headers=RETRY_UNAVAILABLE
        )

    for error_class in UNAVAILABLE:
        app.add_exception_handler(error_class, database_unavailable)
