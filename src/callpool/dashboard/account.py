"""The account's settings page: its time zone, which every time shown and every report day
follows (issue 13, item 6), and the accuracy pool-size advice aims at (issue 15, item 2).
Owners change them; teammates see them. Each has its own form on the page; a post changes the
fields it carries."""

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
    form = dict(posted)
    typed = {name: text(form, name) or "" for name in FIELDS if name in form}
    if viewer.role != OWNER:
        errors = {
            name: f"Only an owner of the account can change its {FIELDS[name]}." for name in typed
        }
        return _page(request, viewer, typed=typed, errors=errors, status_code=403)
    try:
        changes = {name: _parsed(name, value) for name, value in typed.items()}
        saved = accounts.update_account(database_of(request), viewer.account_id, changes)
    except Invalid as bad:
        errors = {bad.field or "form": str(bad)}
        return _page(request, viewer, typed=typed, errors=errors, status_code=422)
    notices = []
    if "time_zone" in typed:
        notices.append(f"Saved: times are in {saved.time_zone}.")
    if "accuracy_target" in typed:
        notices.append(
            f"Saved: pool-size advice aims at {percent(saved.accuracy_target)} of calls; "
            "each site's advice is simulated again for it at the worker's next round."
        )
    # This page already shows times in the new zone; the next requests read it from the account.
    viewer = replace(viewer, time_zone=saved.time_zone)
    return _page(request, viewer, notice=" ".join(notices))


# The fields a form may post, named as the messages name them.
FIELDS = {"time_zone": "time zone", "accuracy_target": "accuracy target"}


def _parsed(name: str, typed: str) -> str | float:
    """The service's value for a posted field: the target is typed as a percentage."""
    if name != "accuracy_target":
        return typed
    try:
        return float(typed.removesuffix("%").strip()) / 100
    except ValueError:
        raise Invalid(
            f"{typed!r} is not a percentage: type one like 99 or 99.5", field=name
        ) from None


def percent(share: float) -> str:
    """99 %, 99.5 %: a target as the owner typed it (the reports' filter shows whole %)."""
    return f"{share * 100:.4g} %"


def _page(
    request: Request,
    viewer: Viewer,
    *,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    account = accounts.account_settings(database_of(request), viewer.account_id)
    form = {"time_zone": viewer.time_zone, "accuracy_target": f"{account.accuracy_target * 100:g}"}
    return render(
        request,
        "account.html",
        status_code,
        title="Account",
        viewer=viewer,
        form=form | (typed or {}),
        errors=errors or {},
        notice=notice,
        zones=zone_names(),
        target=percent(account.accuracy_target),
        can_edit=viewer.role == OWNER,
    )
