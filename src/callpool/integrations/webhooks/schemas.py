"""What the webhooks API takes and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from callpool.restapi import Text

EventName = Literal["call.started", "call.completed", "call.attributed", "pool.exhausted"]


def _distinct(events: list[str]) -> list[str]:
    return list(dict.fromkeys(events))


Events = Annotated[
    list[EventName],
    Field(min_length=1, max_length=10, description="The events this endpoint receives"),
    AfterValidator(_distinct),
]
Url = Annotated[
    Text,
    Field(
        min_length=1,
        max_length=2000,
        description="http(s) URL; its host must resolve to public addresses unless the server "
        "allows private ones (CALLPOOL_WEBHOOKS_ALLOW_PRIVATE)",
        examples=["https://crm.example.com/hooks/callpool"],
    ),
]
Description = Annotated[Text, Field(max_length=200)]


class WebhookCreate(BaseModel):
    url: Url
    events: Events
    description: Description | None = None


class WebhookUpdate(BaseModel):
    url: Url | None = None
    events: Events | None = None
    description: Description | None = None
    enabled: bool | None = Field(
        default=None, description="true re-enables an endpoint disabled after failures"
    )


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_at: datetime | None = Field(description="When deliveries failing for 24 h did it")
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The signing secret (whsec_…, Standard Webhooks): verify each delivery's "
        "webhook-signature with it. Shown here and when rotated."
    )


class SecretOut(BaseModel):
    secret: str = Field(description="The new signing secret (whsec_…)")
    previous_valid_until: datetime = Field(
        description="Until then deliveries are signed with the old secret too"
    )


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    ok: bool
    response_code: int | None
    response_start: str | None = Field(description="The first bytes of the receiver's answer")
    latency_ms: int | None
    error: str | None


class DeliveryOut(BaseModel):
    id: int
    webhook_id: str = Field(description="The webhook-id header: the same on every attempt")
    event: str
    state: str = Field(description="pending, sending, delivered or failed")
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When pending: the next attempt")
    delivered_at: datetime | None
    last_error: str | None
    payload: dict[str, Any]
    attempts: list[AttemptOut]


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryOut]
    next_before: int | None = Field(description="Pass as ?before= for the next (older) page")
