"""The account's settings page: its time zone, which every time shown and every report day
follows (issue 13, item 6), and the accuracy pool-size advice aims at (issue 15, item 2).
Owners change them; teammates see them. Each has its own form on the page; a post changes the
fields it carries. Below them: the viewer's own password, and the account's people, whom an
owner may take out."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Annotated
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from callpool.accounts import login, team
from callpool.accounts import service as accounts
from callpool.accounts.users import MIN_PASSWORD_LENGTH, OWNER
from callpool.client_address import client_address
from callpool.dashboard.auth import (
    CsrfChecked,
    CurrentViewer,
    Viewer,
    browser_session,
    database_of,
)
from callpool.dashboard.forms import PostedForm, text
from callpool.dashboard.render import DashboardRoute, render
from callpool.errors import Conflict, Invalid
from callpool.restapi import Id

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


# The password form's fields (their names would read as passwords to the linter).
CURRENT, NEW, REPEAT = "current_password", "new_password", "repeat_password"


@router.post("/account/password", dependencies=[CsrfChecked])
async def change_password(
    request: Request,
    viewer: CurrentViewer,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    repeat_password: Annotated[str, Form()] = "",
) -> Response:
    """The viewer's own password. Every other session of theirs ends (a password is changed
    because someone else may know it); this browser stays signed in with a new one."""
    if new_password != repeat_password:
        return await _refused(request, viewer, REPEAT, "The two new passwords differ.", 422)
    try:
        changed = await login.change_password(
            database_of(request),
            viewer.email,
            current_password,
            new_password,
            client_address(request),
        )
    except Invalid as bad:
        return await _refused(request, viewer, NEW, _sentence(bad), 422)
    if changed.outcome is login.Outcome.THROTTLED:
        wait = "Too many wrong passwords. Wait 15 minutes, then retry."
        return await _refused(request, viewer, CURRENT, wait, 429)
    if changed.token is None:
        return await _refused(request, viewer, CURRENT, "That is not your current password.", 400)
    browser_session(request).sign_in(changed.token)
    notice = "Password changed. Every other session of yours has been signed out."
    return await run_in_threadpool(lambda: _page(request, viewer, notice=notice))


async def _refused(
    request: Request, viewer: Viewer, field: str, message: str, status_code: int
) -> Response:
    """The page with ``message`` beside ``field``, rendered off the loop (it reads the
    database, which the loop never waits on)."""
    errors = {field: message}
    return await run_in_threadpool(
        lambda: _page(request, viewer, errors=errors, status_code=status_code)
    )


def _sentence(error: Exception) -> str:
    """A service's message (lower case, no stop) as a sentence beside a field."""
    message = str(error)
    return f"{message[:1].upper()}{message[1:]}."


@router.post("/account/members/{user_id}/remove", dependencies=[CsrfChecked])
def remove_member(request: Request, viewer: CurrentViewer, user_id: Id) -> Response:
    """An owner takes someone out of the account: they are signed out at once, everywhere."""
    if viewer.role != OWNER:
        refused, status = "Only an owner of the account can remove people from it.", 403
    elif user_id == viewer.user_id:
        refused, status = "You cannot remove yourself: another owner can.", 409
    else:
        try:
            email = team.remove_member(database_of(request), viewer.account_id, user_id)
        except Conflict as clash:
            refused, status = _sentence(clash), 409
        else:
            return _page(request, viewer, notice=f"{email} was removed and signed out.")
    return _page(request, viewer, errors={"team": refused}, status_code=status)


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
        members=team.list_members(database_of(request), viewer.account_id),
        min_password=MIN_PASSWORD_LENGTH,
    )
