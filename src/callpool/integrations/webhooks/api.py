"""REST API for outgoing webhooks: ``/api/v1/webhooks``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from callpool.accounts.auth import AccountId, DatabaseDep
from callpool.integrations.webhooks import service
from callpool.integrations.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    SecretOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)
from callpool.restapi import API, CONFLICT, MAX_ID, NOT_FOUND, Id
from callpool.settings import Settings

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=API)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post("", status_code=status.HTTP_201_CREATED)
def create_webhook(
    body: WebhookCreate, request: Request, account_id: AccountId, database: DatabaseDep
) -> WebhookCreated:
    """Add an endpoint for some events. The answer holds its signing `secret` (`whsec_…`):
    deliveries are signed per the Standard Webhooks specification (`webhook-id`,
    `webhook-timestamp`, `webhook-signature`). A URL whose host resolves to a private,
    loopback or link-local address is refused (422, field `url`)."""
    endpoint = service.create_endpoint(database, _settings(request), account_id, body)
    return WebhookCreated(
        **WebhookOut.model_validate(endpoint).model_dump(), secret=endpoint.secret
    )


@router.get("")
def list_webhooks(account_id: AccountId, database: DatabaseDep) -> list[WebhookOut]:
    """The account's endpoints (without secrets)."""
    return [WebhookOut.model_validate(e) for e in service.list_endpoints(database, account_id)]


@router.get("/{webhook_id}", responses=NOT_FOUND)
def get_webhook(webhook_id: Id, account_id: AccountId, database: DatabaseDep) -> WebhookOut:
    return WebhookOut.model_validate(service.get_endpoint(database, account_id, webhook_id))


@router.patch("/{webhook_id}", responses=NOT_FOUND)
def update_webhook(
    webhook_id: Id,
    body: WebhookUpdate,
    request: Request,
    account_id: AccountId,
    database: DatabaseDep,
) -> WebhookOut:
    """Change the URL, events or description; `enabled: true` re-enables an endpoint that was
    disabled after 24 hours of failed deliveries."""
    endpoint = service.update_endpoint(database, _settings(request), account_id, webhook_id, body)
    return WebhookOut.model_validate(endpoint)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_webhook(webhook_id: Id, account_id: AccountId, database: DatabaseDep) -> None:
    """Delete the endpoint, its pending messages and its delivery history."""
    service.delete_endpoint(database, account_id, webhook_id)


@router.post("/{webhook_id}/rotate-secret", responses=NOT_FOUND)
def rotate_secret(webhook_id: Id, account_id: AccountId, database: DatabaseDep) -> SecretOut:
    """A new signing secret. For 24 hours deliveries carry a signature by the old secret too,
    so receivers can switch without missing one."""
    return service.rotate_secret(database, account_id, webhook_id)


@router.get("/{webhook_id}/deliveries", responses=NOT_FOUND)
def list_deliveries(
    webhook_id: Id,
    account_id: AccountId,
    database: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> DeliveryPage:
    """Messages to this endpoint, newest first, each with every attempt: when, the response
    code, the first bytes of the answer, the latency."""
    return service.deliveries(database, account_id, webhook_id, limit=limit, before=before)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**NOT_FOUND, **CONFLICT},
)
def redeliver(
    webhook_id: Id, delivery_id: Id, account_id: AccountId, database: DatabaseDep
) -> DeliveryOut:
    """Send the message again now, with the same `webhook-id`. 409 while the endpoint is
    disabled."""
    return service.redeliver(database, account_id, webhook_id, delivery_id)
