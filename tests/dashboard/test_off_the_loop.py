"""Dashboard pages do their database and carrier work off the event loop, where a held SQLite
lock or a slow carrier would stall every visit and call this process serves. A handler is a
plain ``def`` (FastAPI runs it in its thread pool; a posted form comes from
``forms.PostedForm``), unless it hands each blocking step to a thread itself."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from fastapi import APIRouter
from fastapi.routing import APIRoute

from callpool import dashboard
from callpool.integrations.google_ads import api as google_ads_feed

# Coroutines that await every slow step in a thread (accounts.login, demo.testcall), and
# render their page in one too (the password change).
HAND_OFF_THEMSELVES = {"login", "change_password", "site_test_call", "pool_test_call"}


def _routes() -> list[APIRoute]:
    modules = [google_ads_feed] + [
        importlib.import_module(f"{dashboard.__name__}.{found.name}")
        for found in pkgutil.iter_modules(dashboard.__path__)
    ]
    routers = [
        router
        for module in modules
        for router in vars(module).values()
        if isinstance(router, APIRouter)
    ]
    return [route for router in routers for route in router.routes if isinstance(route, APIRoute)]


def test_dashboard_handlers_that_touch_the_database_are_plain_functions() -> None:
    routes = _routes()
    coroutines = {
        route.endpoint.__name__ for route in routes if inspect.iscoroutinefunction(route.endpoint)
    }
    assert coroutines == HAND_OFF_THEMSELVES
    assert len(routes) > 40  # the walk found the pages
