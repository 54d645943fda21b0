""" "Place a test call" (sandbox provider only): on the verify step and the pool page."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from callpool.dashboard.auth import CsrfChecked, CurrentViewer
from callpool.dashboard.render import DashboardRoute, redirect
from callpool.demo.testcall import place_test_call
from callpool.restapi import Id

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

NO_NUMBER = "This has no active tracking number to call yet: give its pool numbers first."


def sandbox_on(request: Request) -> bool:
    """Test calls are simulated by the sandbox carrier: a real one has no such calls."""
    return bool(request.app.state.provider.name == "sandbox")


@router.post("/sites/{site_id}/test-call", dependencies=[CsrfChecked])
async def site_test_call(request: Request, viewer: CurrentViewer, site_id: Id) -> Response:
    return await _test_call(request, viewer.account_id, site_id=site_id)


@router.post("/pools/{pool_id}/test-call", dependencies=[CsrfChecked])
async def pool_test_call(request: Request, viewer: CurrentViewer, pool_id: Id) -> Response:
    return await _test_call(request, viewer.account_id, pool_id=pool_id)


async def _test_call(
    request: Request, account_id: int, *, site_id: int | None = None, pool_id: int | None = None
) -> Response:
    if not sandbox_on(request):
        raise HTTPException(404, "Test calls need the sandbox provider.")
    state = request.app.state
    # Routed, spooled (fsync) and stored: not on the event loop.
    call_id = await run_in_threadpool(
        place_test_call,
        state.database,
        state.settings,
        account_id,
        site_id=site_id,
        pool_id=pool_id,
    )
    if call_id is None:
        raise HTTPException(409, NO_NUMBER)
    return redirect(request, f"/dashboard/calls/{call_id}?test=1")
