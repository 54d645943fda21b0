"""Dashboard pages for what leaves callpool: webhook endpoints with their deliveries, and each
user's email choices (or word that email is off, without SMTP).

Handlers stay thin: the forms become the REST API's input models, the webhooks service does
the work, scoped to the viewer's account (another account's endpoint is a 404 page).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from callpool.dashboard.auth import CsrfChecked, CurrentViewer, Viewer, database_of, settings_of
from callpool.dashboard.forms import (
    FormInvalid,
    PostedForm,
    build,
    checkbox,
    from_invalid,
    text,
)
from callpool.dashboard.render import DashboardRoute, redirect, render
from callpool.errors import Conflict, Invalid
from callpool.integrations.email import notices, smtp
from callpool.integrations.payloads import EVENTS
from callpool.integrations.webhooks import service
from callpool.integrations.webhooks.schemas import WebhookCreate, WebhookUpdate
from callpool.restapi import Id

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


def _fields(form: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "url": text(form, "url"),
        "events": [event for event in EVENTS if checkbox(form, f"event:{event}")],
        "description": text(form, "description"),
    }


# -- webhook endpoints ----------------------------------------------------------------------


@router.get("/webhooks")
def webhooks_page(request: Request, viewer: CurrentViewer) -> Response:
    return _list(request, viewer, form={}, errors={})


def _list(
    request: Request,
    viewer: Viewer,
    *,
    form: Mapping[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    endpoints = service.list_endpoints(database_of(request), viewer.account_id)
    return render(
        request,
        "webhooks.html",
        status_code,
        title="Webhooks",
        viewer=viewer,
        endpoints=endpoints,
        events=EVENTS,
        form=form,
        errors=errors,
    )


@router.post("/webhooks", dependencies=[CsrfChecked])
def create_webhook(request: Request, viewer: CurrentViewer, form: PostedForm) -> Response:
    # A plain def, so in the thread pool: saving resolves the URL's host (the private-address
    # rule) and writes.
    try:
        fields = build(WebhookCreate, _fields(form))
        endpoint_id = _create(request, viewer, fields)
    except FormInvalid as invalid:
        return _list(request, viewer, form=dict(form), errors=invalid.errors, status_code=422)
    except Invalid as refused:
        errors = from_invalid(refused).errors
        return _list(request, viewer, form=dict(form), errors=errors, status_code=422)
    return redirect(request, f"/dashboard/webhooks/{endpoint_id}?created=1")


def _create(request: Request, viewer: Viewer, fields: WebhookCreate) -> int:
    database, settings = database_of(request), settings_of(request)
    return service.create_endpoint(database, settings, viewer.account_id, fields).id


def _update(request: Request, viewer: Viewer, endpoint_id: int, changes: WebhookUpdate) -> None:
    database, settings = database_of(request), settings_of(request)
    service.update_endpoint(database, settings, viewer.account_id, endpoint_id, changes)


@router.get("/webhooks/{endpoint_id}")
def webhook_page(request: Request, viewer: CurrentViewer, endpoint_id: Id) -> Response:
    notice = "Endpoint added." if request.query_params.get("created") else None
    return _endpoint(request, viewer, endpoint_id, notice=notice)


def _endpoint(
    request: Request,
    viewer: Viewer,
    endpoint_id: int,
    *,
    form: Mapping[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    database = database_of(request)
    endpoint = service.get_endpoint(database, viewer.account_id, endpoint_id)
    page = service.deliveries(database, viewer.account_id, endpoint_id, limit=50, before=None)
    current = {"url": endpoint.url, "description": endpoint.description or ""}
    for event in endpoint.events:
        current[f"event:{event}"] = "on"
    return render(
        request,
        "webhook.html",
        status_code,
        title=f"Webhook {endpoint.url}",
        viewer=viewer,
        endpoint=endpoint,
        deliveries=page.deliveries,
        events=EVENTS,
        form=form if form is not None else current,
        errors=errors or {},
        notice=notice,
    )


@router.post("/webhooks/{endpoint_id}", dependencies=[CsrfChecked])
def change_webhook(
    request: Request, viewer: CurrentViewer, endpoint_id: Id, form: PostedForm
) -> Response:
    try:
        changes = build(WebhookUpdate, _fields(form))
        _update(request, viewer, endpoint_id, changes)
    except FormInvalid as invalid:
        return _endpoint(
            request, viewer, endpoint_id, form=dict(form), errors=invalid.errors, status_code=422
        )
    except Invalid as refused:
        errors = from_invalid(refused).errors
        return _endpoint(
            request, viewer, endpoint_id, form=dict(form), errors=errors, status_code=422
        )
    return _endpoint(request, viewer, endpoint_id, notice="Saved.")


@router.post("/webhooks/{endpoint_id}/enable", dependencies=[CsrfChecked])
def enable_webhook(request: Request, viewer: CurrentViewer, endpoint_id: Id) -> Response:
    enable = WebhookUpdate(enabled=True)
    service.update_endpoint(
        database_of(request), settings_of(request), viewer.account_id, endpoint_id, enable
    )
    return _endpoint(request, viewer, endpoint_id, notice="Enabled: new events are sent again.")


@router.post("/webhooks/{endpoint_id}/rotate", dependencies=[CsrfChecked])
def rotate_webhook_secret(request: Request, viewer: CurrentViewer, endpoint_id: Id) -> Response:
    service.rotate_secret(database_of(request), viewer.account_id, endpoint_id)
    notice = "New secret below. The old one still signs deliveries, beside it, for 24 hours."
    return _endpoint(request, viewer, endpoint_id, notice=notice)


@router.post("/webhooks/{endpoint_id}/delete", dependencies=[CsrfChecked])
def delete_webhook(request: Request, viewer: CurrentViewer, endpoint_id: Id) -> Response:
    service.delete_endpoint(database_of(request), viewer.account_id, endpoint_id)
    return redirect(request, "/dashboard/webhooks")


@router.post(
    "/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver", dependencies=[CsrfChecked]
)
def redeliver(
    request: Request, viewer: CurrentViewer, endpoint_id: Id, delivery_id: Id
) -> Response:
    try:
        service.redeliver(database_of(request), viewer.account_id, endpoint_id, delivery_id)
    except Conflict as conflict:
        return _endpoint(request, viewer, endpoint_id, notice=str(conflict), status_code=409)
    return _endpoint(request, viewer, endpoint_id, notice="Queued: it is sent again now.")


# -- email ----------------------------------------------------------------------------------


@router.get("/email")
def email_page(request: Request, viewer: CurrentViewer) -> Response:
    return _email(request, viewer)


def _email(request: Request, viewer: Viewer, notice: str | None = None) -> Response:
    chosen = notices.preference(database_of(request), viewer.account_id, viewer.user_id)
    calls, digest = chosen.calls, chosen.daily_digest
    return render(
        request,
        "email.html",
        title="Email",
        viewer=viewer,
        email_on=smtp.is_on(settings_of(request)),
        calls=calls,
        daily_digest=digest,
        notice=notice,
    )


@router.post("/email", dependencies=[CsrfChecked])
def choose_email(request: Request, viewer: CurrentViewer, form: PostedForm) -> Response:
    calls = text(form, "calls") or notices.OFF
    if calls not in notices.CALL_CHOICES:
        calls = notices.OFF
    notices.choose(
        database_of(request),
        viewer.account_id,
        viewer.user_id,
        calls=calls,
        daily_digest=checkbox(form, "daily_digest"),
    )
    return _email(request, viewer, notice="Saved.")
