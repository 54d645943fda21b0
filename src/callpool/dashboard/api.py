"""The dashboard's pages: sign-in, sites, API keys; the setup steps and insights live beside.

Handlers stay thin: parse the form, call the domain's service, render. Every page takes the
signed-in viewer's ``account_id`` and hands it to services that start from ``scoped``, so a
page of another account is a 404 like any missing page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from callpool.accounts import service as api_keys
from callpool.accounts import users
from callpool.accounts.login import Outcome
from callpool.dashboard.auth import (
    CsrfChecked,
    CurrentViewer,
    database_of,
    sign_in_with_password,
    sign_out,
    signed_in_viewer,
)
from callpool.dashboard.forms import FormInvalid, PostedForm, build, lines, text
from callpool.dashboard.render import STATIC, DashboardRoute, redirect, render
from callpool.restapi import Id
from callpool.sites import service as sites
from callpool.sites.schemas import SiteCreate

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)
root = APIRouter(include_in_schema=False)


@root.get("/")
def index() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=307)


@router.get("/static/{name:path}")
def static(name: str) -> Response:
    """The dashboard's CSS, scripts and vendored libraries; names are fixed, so cache long."""
    path = (STATIC / name).resolve()
    if not path.is_file() or STATIC.resolve() not in path.parents:
        raise HTTPException(404, "no such file")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


# -- signing in and out ---------------------------------------------------------------------


def _safe_next(next_url: str | None) -> str:
    """Only a path on this server: ``//evil.example`` and absolute URLs are open redirects."""
    if next_url and next_url.startswith("/") and not next_url.startswith("//"):
        return next_url
    return "/dashboard"


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    if signed_in_viewer(request) is not None:
        return redirect(request, _safe_next(next))
    return render(request, "login.html", title="Sign in", next=_safe_next(next), email="")


@router.post("/login", dependencies=[CsrfChecked])
async def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/dashboard",
) -> Response:
    page = {"title": "Sign in", "next": _safe_next(next), "email": users.normalize_email(email)}
    outcome = await sign_in_with_password(request, email, password)
    if outcome is Outcome.THROTTLED:
        message = "Too many failed sign-ins. Wait 15 minutes, then try again."
        return render(request, "login.html", 429, error=message, **page)
    if outcome is Outcome.WRONG:
        return render(request, "login.html", 400, error="Wrong email or password.", **page)
    return redirect(request, _safe_next(next))


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request) -> Response:
    response = RedirectResponse("/dashboard/login", status_code=303)
    sign_out(request, response)
    return response


# -- sites ----------------------------------------------------------------------------------


@router.get("")
def home(request: Request, viewer: CurrentViewer) -> Response:
    site_list = sites.list_sites(database_of(request), viewer.account_id)
    return render(
        request, "home.html", title="Sites", viewer=viewer, sites=site_list, form={}, errors={}
    )


@router.post("/sites", dependencies=[CsrfChecked])
def create_site(request: Request, viewer: CurrentViewer, form: PostedForm) -> Response:
    data = {
        "name": text(form, "name"),
        "allowed_origins": lines(form, "allowed_origins"),
        "region": text(form, "region") or "US",
    }
    try:
        fields = build(SiteCreate, data)
    except FormInvalid as invalid:
        site_list = sites.list_sites(database_of(request), viewer.account_id)
        return render(
            request,
            "home.html",
            422,
            title="Sites",
            viewer=viewer,
            sites=site_list,
            form=dict(form),
            errors=invalid.errors,
        )
    site = sites.create_site(database_of(request), viewer.account_id, fields)
    return redirect(request, f"/dashboard/sites/{site.id}")


# -- API keys -------------------------------------------------------------------------------


@router.get("/keys")
def keys_page(request: Request, viewer: CurrentViewer) -> Response:
    key_list = api_keys.list_api_keys(database_of(request), viewer.account_id)
    return render(request, "keys.html", title="API keys", viewer=viewer, keys=key_list, errors={})


@router.post("/keys", dependencies=[CsrfChecked])
def create_key(request: Request, viewer: CurrentViewer, form: PostedForm) -> Response:
    name = text(form, "name")
    errors = (
        {} if name and len(name) <= 200 else {"name": "give the key a name (up to 200 characters)"}
    )
    created = (
        None
        if errors
        else api_keys.new_api_key(database_of(request), viewer.account_id, name or "")
    )
    key_list = api_keys.list_api_keys(database_of(request), viewer.account_id)
    return render(
        request,
        "keys.html",
        422 if errors else 200,
        title="API keys",
        viewer=viewer,
        keys=key_list,
        new_key=created.key if created else None,
        errors=errors,
    )


@router.post("/keys/{key_id}/revoke", dependencies=[CsrfChecked])
def revoke_key(request: Request, viewer: CurrentViewer, key_id: Id) -> Response:
    api_keys.revoke_api_key(database_of(request), viewer.account_id, key_id)
    return redirect(request, "/dashboard/keys")
