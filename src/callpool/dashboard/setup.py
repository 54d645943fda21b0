"""The seed's four setup steps: (1) a pool, (2) the swap target, (3) install, (4) verify."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers
from fastapi import APIRouter, Request
from fastapi.responses import Response

from callpool.clock import zone_named
from callpool.dashboard import install
from callpool.dashboard.auth import CsrfChecked, CurrentViewer, Viewer
from callpool.dashboard.forms import (
    FieldErrors,
    FormInvalid,
    PostedForm,
    build,
    check_selector,
    checkbox,
    from_invalid,
    lines,
    text,
)
from callpool.dashboard.render import DashboardRoute, pretty_number, redirect, render
from callpool.errors import Conflict, Invalid
from callpool.models import Site
from callpool.pools import service as pools
from callpool.pools.rules import validate_rules
from callpool.pools.schemas import PoolCreate, PoolOut, PoolUpdate
from callpool.pools.service import Deps
from callpool.reports import service as reports
from callpool.restapi import Id
from callpool.sessions import service as visits
from callpool.sites import service as sites
from callpool.sites.checks import install_checks
from callpool.sites.schemas import SiteUpdate, origin_of
from callpool.telephony.base import ProviderError

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

LATEST_VISITS = 20


def deps_of(request: Request) -> Deps:
    state = request.app.state
    return Deps(state.database, state.provider, state.settings)


def _site(request: Request, viewer: Viewer, site_id: int) -> Site:
    return sites.get_site(request.app.state.database, viewer.account_id, site_id)


def as_e164(raw: str | None, region: str) -> str | None:
    """A number as the user typed it, in the site's country, to E.164; unparseable input is
    passed on untouched so the pool schema names the field in its error."""
    if raw is None:
        return None
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return raw
    if not phonenumbers.is_valid_number(parsed):
        return raw
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


# -- the site and its steps ------------------------------------------------------------------


@router.get("/sites/{site_id}")
def site_page(request: Request, viewer: CurrentViewer, site_id: Id) -> Response:
    return _site_page(request, viewer, _site(request, viewer, site_id))


def _site_page(
    request: Request,
    viewer: Viewer,
    site: Site,
    form: Mapping[str, Any] | None = None,
    errors: FieldErrors | None = None,
) -> Response:
    pool_list = pools.list_pools(deps_of(request), viewer.account_id, site.id)
    seen = visits.latest_sessions(
        request.app.state.database, viewer.account_id, site_id=site.id, limit=1, offset=0
    )
    if form is None:
        form = {
            "name": site.name,
            "allowed_origins": "\n".join(site.allowed_origins),
            "region": site.region,
        }
    return render(
        request,
        "site.html",
        422 if errors else 200,
        title=site.name,
        viewer=viewer,
        site=site,
        pools=pool_list,
        has_target=any(p.swap_number or p.swap_selector for p in pool_list),
        has_visits=bool(seen),
        form=form,
        errors=errors or {},
    )


@router.post("/sites/{site_id}", dependencies=[CsrfChecked])
def change_site(request: Request, viewer: CurrentViewer, site_id: Id, form: PostedForm) -> Response:
    """The site's name, where it runs (origins allowed to ask for numbers) and country."""
    site = _site(request, viewer, site_id)
    data = {
        "name": text(form, "name") or "",
        "allowed_origins": lines(form, "allowed_origins"),
        "region": text(form, "region") or "",
    }
    try:
        changes = build(SiteUpdate, data)
    except FormInvalid as invalid:
        return _site_page(request, viewer, site, form, invalid.errors)
    sites.update_site(request.app.state.database, viewer.account_id, site_id, changes)
    return redirect(request, f"/dashboard/sites/{site_id}?saved=1")


# -- step 1: create a pool -------------------------------------------------------------------


@router.get("/sites/{site_id}/pools/new")
def new_pool_page(request: Request, viewer: CurrentViewer, site_id: Id) -> Response:
    site = _site(request, viewer, site_id)
    form = {"kind": "session", "size": "6", "number_type": "local", "utilization": "0.8"}
    return _pool_form(request, viewer, site, form, {})


def _pool_form(
    request: Request,
    viewer: Viewer,
    site: Site,
    form: Mapping[str, Any],
    errors: FieldErrors,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "pool_new.html",
        status_code,
        title="Create a number pool",
        viewer=viewer,
        site=site,
        form=form,
        errors=errors,
        provider=request.app.state.provider.name,
    )


def pool_create_data(form: Mapping[str, Any], site: Site) -> dict[str, Any]:
    kind = text(form, "kind") or "session"
    toll_free = text(form, "number_type") == "toll_free"
    return {
        "site_id": site.id,
        "name": text(form, "name"),
        "kind": kind,
        "original_number": as_e164(text(form, "original_number"), site.region),
        "toll_free": toll_free,
        "area_code": None if toll_free else text(form, "area_code"),
        "size": text(form, "size"),
        "utilization": text(form, "utilization") if kind == "automated" else None,
        "record_calls": checkbox(form, "record_calls"),
    }


@router.post("/sites/{site_id}/pools", dependencies=[CsrfChecked])
def create_pool(request: Request, viewer: CurrentViewer, site_id: Id, form: PostedForm) -> Response:
    # A plain def, so in the thread pool: buying numbers waits on the carrier, not the loop.
    site = _site(request, viewer, site_id)
    try:
        data = build(PoolCreate, pool_create_data(form, site))
        pool = pools.create_pool(deps_of(request), viewer.account_id, data)
    except FormInvalid as invalid:
        return _pool_form(request, viewer, site, form, invalid.errors, 422)
    except Invalid as error:
        return _pool_form(request, viewer, site, form, from_invalid(error).errors, 422)
    except (Conflict, ProviderError) as error:
        message = (
            error.explain("Nothing was bought") if isinstance(error, ProviderError) else str(error)
        )
        return _pool_form(request, viewer, site, form, {"form": message}, 422)
    return redirect(request, f"/dashboard/pools/{pool.id}?created=1#target")


# -- the pool page, step 2: the swap target -------------------------------------------------


def _target_form(pool: PoolOut, region: str) -> dict[str, str]:
    return {
        "swap_number": pretty_number(pool.swap_number or pool.original_number, region),
        "swap_selector": pool.swap_selector or "",
        "paths": "\n".join(pool.rules.get("paths", [])),
        "sources": "\n".join(pool.rules.get("sources", [])),
        "priority": str(pool.priority),
    }


def pool_page_response(
    request: Request,
    viewer: Viewer,
    pool_id: int,
    target_form: Mapping[str, Any] | None = None,
    errors: FieldErrors | None = None,
    status_code: int | None = None,
    settings_form: Mapping[str, Any] | None = None,
) -> Response:
    """The pool's page; a form given back (with ``errors``) keeps what the user typed."""
    deps = deps_of(request)
    pool = pools.get_pool(deps, viewer.account_id, pool_id)
    site = _site(request, viewer, pool.site_id)
    trackers = pools.list_trackers(deps, viewer.account_id, pool_id)
    diagnosis = (
        None if pool.kind == "session" else pools.diagnostics(deps, viewer.account_id, pool_id)
    )
    zone = zone_named(viewer.time_zone)  # the pool's days are the account's
    health = reports.pool_health_for(
        deps.database,
        viewer.account_id,
        pool_id,
        reports.default_period(7, zone),
        interval="day",
        zone=zone,
    )
    if status_code is None:
        status_code = 422 if errors else 200
    # Where a leaked number may move to: the site's manual pools (or a new one).
    manual_pools = [
        p for p in pools.list_pools(deps, viewer.account_id, site.id) if p.kind == "manual"
    ]
    return render(
        request,
        "pool.html",
        status_code,
        title=pool.name,
        viewer=viewer,
        pool=pool,
        site=site,
        trackers=[t for t in trackers if t.status != "released"],
        diagnosis=diagnosis,
        health=health,
        manual_pools=manual_pools,
        release_after={r.tracker_id: r.release_after for r in health.retiring_numbers},
        never_swapped=install_checks(deps.database, site.id, site.allowed_origins).never_swapped,
        form=target_form if target_form is not None else _target_form(pool, site.region),
        settings=settings_form if settings_form is not None else _settings_form(pool, site.region),
        errors=errors or {},
        created=request.query_params.get("created") == "1",
    )


@router.get("/pools/{pool_id}")
def pool_page(request: Request, viewer: CurrentViewer, pool_id: Id) -> Response:
    return pool_page_response(request, viewer, pool_id)


def target_update_data(form: Mapping[str, Any], region: str) -> tuple[dict[str, Any], FieldErrors]:
    """The swap target as ``PoolUpdate`` fields, and the errors only a form can make."""
    errors: FieldErrors = {}
    selector = text(form, "swap_selector")
    try:
        check_selector(selector)
    except ValueError as error:
        errors["swap_selector"] = str(error)
    rules: dict[str, Any] = {}
    for key in ("paths", "sources"):
        patterns = lines(form, key)
        if not patterns:
            continue
        try:
            rules.update(validate_rules({key: patterns}))
        except ValueError as error:
            errors[key] = str(error).removeprefix(f"rules.{key}: ")
    data = {
        "swap_number": as_e164(text(form, "swap_number"), region),
        "swap_selector": selector,
        "rules": rules,
        "priority": text(form, "priority") or "0",
    }
    if data["swap_number"] is None and selector is None:
        errors["swap_number"] = "give the number as written on the site, a CSS selector, or both"
    return data, errors


@router.post("/pools/{pool_id}/target", dependencies=[CsrfChecked])
def set_target(request: Request, viewer: CurrentViewer, pool_id: Id, form: PostedForm) -> Response:
    # A plain def, so in the thread pool: a source-level pool rebalances on every change,
    # which may buy numbers.
    deps = deps_of(request)
    pool = pools.get_pool(deps, viewer.account_id, pool_id)
    site = _site(request, viewer, pool.site_id)
    data, errors = target_update_data(form, site.region)
    try:
        update = build(PoolUpdate, data, extra=errors)
        pools.update_pool(deps, viewer.account_id, pool_id, update)
    except FormInvalid as invalid:
        return pool_page_response(request, viewer, pool_id, form, invalid.errors, 422)
    except Invalid as error:
        return pool_page_response(request, viewer, pool_id, form, from_invalid(error).errors, 422)
    return redirect(request, f"/dashboard/pools/{pool_id}?saved=target#target")


def _settings_form(pool: PoolOut, region: str) -> dict[str, str]:
    return {
        "name": pool.name,
        "original_number": pretty_number(pool.original_number, region),
        "size": str(pool.size),
        "utilization": "" if pool.utilization is None else f"{pool.utilization:g}",
        "record_calls": "on" if pool.record_calls else "",
    }


def settings_update_data(form: Mapping[str, Any], kind: str, region: str) -> dict[str, Any]:
    # Every field is on the form: an emptied one is an error to show, not "leave unchanged".
    data: dict[str, Any] = {
        "name": text(form, "name") or "",
        "original_number": as_e164(text(form, "original_number"), region) or "",
        "size": text(form, "size") or "",
        "record_calls": checkbox(form, "record_calls"),
    }
    if kind == "automated":
        data["utilization"] = text(form, "utilization") or ""
    return data


@router.post("/pools/{pool_id}/settings", dependencies=[CsrfChecked])
def change_settings(
    request: Request, viewer: CurrentViewer, pool_id: Id, form: PostedForm
) -> Response:
    """Size, utilization and original number changes behave as the pools FAQ says."""
    # A plain def, so in the thread pool: a size change buys or releases numbers.
    deps = deps_of(request)
    pool = pools.get_pool(deps, viewer.account_id, pool_id)
    site = _site(request, viewer, pool.site_id)
    try:
        update = build(PoolUpdate, settings_update_data(form, pool.kind, site.region))
        pools.update_pool(deps, viewer.account_id, pool_id, update)
    except FormInvalid as invalid:
        return pool_page_response(
            request, viewer, pool_id, settings_form=form, errors=invalid.errors
        )
    except Invalid as error:
        errors = from_invalid(error).errors
        return pool_page_response(request, viewer, pool_id, settings_form=form, errors=errors)
    except (Conflict, ProviderError) as error:
        message = (
            error.explain("Nothing was bought") if isinstance(error, ProviderError) else str(error)
        )
        return pool_page_response(
            request, viewer, pool_id, settings_form=form, errors={"form": message}
        )
    return redirect(request, f"/dashboard/pools/{pool_id}?saved=settings#settings")


@router.post("/pools/{pool_id}/reassign", dependencies=[CsrfChecked])
def reassign(request: Request, viewer: CurrentViewer, pool_id: Id) -> Response:
    """Move active and flagged trackers to the pool's current original number."""
    pools.reassign_original_number(deps_of(request), viewer.account_id, pool_id)
    return redirect(request, f"/dashboard/pools/{pool_id}?saved=reassigned#trackers")


@router.post("/sites/{site_id}/delete", dependencies=[CsrfChecked])
def delete_site(request: Request, viewer: CurrentViewer, site_id: Id) -> Response:
    """Delete a site (its page asked for confirmation, saying what will happen): its pools'
    numbers are released, its history kept."""
    sites.delete_site(deps_of(request), viewer.account_id, site_id)
    return redirect(request, "/dashboard")


@router.post("/pools/{pool_id}/delete", dependencies=[CsrfChecked])
def delete_pool(request: Request, viewer: CurrentViewer, pool_id: Id) -> Response:
    deps = deps_of(request)
    pool = pools.get_pool(deps, viewer.account_id, pool_id)
    try:
        pools.delete_pool(deps, viewer.account_id, pool_id)
    except (Conflict, ProviderError) as error:
        message = (
            error.explain("The pool was kept") if isinstance(error, ProviderError) else str(error)
        )
        return pool_page_response(
            request, viewer, pool_id, errors={"form": message}, status_code=409
        )
    return redirect(request, f"/dashboard/sites/{pool.site_id}")


@router.post("/pools/{pool_id}/trackers/{tracker_id}/{action}", dependencies=[CsrfChecked])
def tracker_action(
    request: Request,
    viewer: CurrentViewer,
    pool_id: Id,
    tracker_id: Id,
    action: str,
    form: PostedForm,
) -> Response:
    """Manual pools: activate / assign (to a source/medium), flag, unflag."""
    if action not in pools.MANUAL_ACTIONS:
        return pool_page_response(
            request, viewer, pool_id, errors={"form": f"unknown action {action!r}"}, status_code=404
        )
    key = None
    if action in ("activate", "assign"):
        source, medium = text(form, "source"), text(form, "medium")
        if not source or not medium:
            errors = {"form": "give the source and the medium, like google / cpc"}
            return pool_page_response(request, viewer, pool_id, errors=errors, status_code=422)
        key = (source, medium)
    try:
        pools.manual_action(deps_of(request), viewer.account_id, pool_id, tracker_id, action, key)
    except Conflict as error:
        return pool_page_response(
            request, viewer, pool_id, errors={"form": str(error)}, status_code=409
        )
    return redirect(request, f"/dashboard/pools/{pool_id}#trackers")


# -- step 3: install -------------------------------------------------------------------------


@router.get("/sites/{site_id}/install")
def install_page(request: Request, viewer: CurrentViewer, site_id: Id) -> Response:
    site = _site(request, viewer, site_id)
    snippet = install.snippet_for(request, site)
    return render(
        request, "install.html", title="Install", viewer=viewer, site=site, snippet=snippet
    )


# -- step 4: verify --------------------------------------------------------------------------


@router.get("/sites/{site_id}/verify")
def verify_page(request: Request, viewer: CurrentViewer, site_id: Id) -> Response:
    site = _site(request, viewer, site_id)
    return render(
        request,
        "verify.html",
        title="Verify",
        viewer=viewer,
        site=site,
        debug_urls=[_debug_url(request, origin) for origin in site.allowed_origins],
        checks=install_checks(request.app.state.database, site.id, site.allowed_origins),
        **_latest_visits(request, viewer, site_id),
    )


def _debug_url(request: Request, origin: str) -> str:
    """The site's home page in debug mode; on this server's own origin, the demo site."""
    own = origin_of(request.app.state.settings.public_url)
    return f"{origin}/demo/?callpool_debug=1" if origin == own else f"{origin}/?callpool_debug=1"


@router.get("/sites/{site_id}/verify/visits")
def verify_visits(request: Request, viewer: CurrentViewer, site_id: Id) -> Response:
    """The live list: the verify page reloads this fragment every few seconds."""
    site = _site(request, viewer, site_id)
    return render(
        request,
        "_visits.html",
        site=site,
        viewer=viewer,
        **_latest_visits(request, viewer, site_id),
    )


def _latest_visits(request: Request, viewer: Viewer, site_id: int) -> dict[str, Any]:
    latest = visits.latest_sessions(
        request.app.state.database,
        viewer.account_id,
        site_id=site_id,
        limit=LATEST_VISITS,
        offset=0,
    )
    return {"visits": latest}
