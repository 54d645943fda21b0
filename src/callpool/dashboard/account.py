"""The account's settings page: its time zone, which every time shown and every report day
follows (issue 13, item 6). Owners change it; teammates see it."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import Response

from callpool.accounts import service as accounts
from callpool.accounts.users import OWNER
from callpool.dashboard.auth import CsrfChecked, CurrentViewer, Viewer, database_of
from callpool.dashboard.forms import PostedForm, text
from callpool.dashboard.render import DashboardRoute, render
from callpool.errors import Invalid

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


@lru_cache(maxsize=1)
def zone_names() -> list[str]:
    """The IANA names this machine knows, for the field's suggestions (read from disk once)."""
    return sorted(available_timezones())


@router.get("/account")
def account_page(request: Request, viewer: CurrentViewer) -> Response:
    return _page(request, viewer)


# A plain def taking the posted form: the database write runs in the thread pool.
@router.post("/account", dependencies=[CsrfChecked])
def save_account(request: Request, viewer: CurrentViewer, posted: PostedForm) -> Response:
    typed = text(dict(posted), "time_zone") or ""
    if viewer.role != OWNER:
        errors = {"time_zone": "Only an owner of the account can change its time zone."}
        return _page(request, viewer, typed=typed, errors=errors, status_code=403)
    try:
        saved = accounts.set_time_zone(database_of(request), viewer.account_id, typed)
    except Invalid as bad:
        errors = {bad.field or "time_zone": str(bad)}
        return _page(request, viewer, typed=typed, errors=errors, status_code=422)
    # This page already shows times in the new zone; the next requests read it from the account.
    return _page(request, replace(viewer, time_zone=saved), notice=f"Saved: times are in {saved}.")


def _page(
    request: Request,
    viewer: Viewer,
    *,
    typed: str | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "account.html",
        status_code,
        title="Account",
        viewer=viewer,
        form={"time_zone": viewer.time_zone if typed is None else typed},
        errors=errors or {},
        notice=notice,
        zones=zone_names(),
        can_edit=viewer.role == OWNER,
    )
