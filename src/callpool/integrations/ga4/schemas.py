"""What the GA4 streams API takes and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from callpool.integrations.ga4.service import DEFAULT_EVENT


class Ga4StreamIn(BaseModel):
    """A site's GA4 web data stream: calls attributed to its visits are sent as events."""

    measurement_id: str = Field(
        pattern=r"^[Gg]-[A-Za-z0-9]{4,20}$",
        description="The web stream's measurement ID",
        examples=["G-ABC123XYZ"],
    )
    api_secret: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[^\x00]*\S[^\x00]*$",
        description="A Measurement Protocol API secret of the stream (GA4: Admin → Data "
        "streams → the stream → Measurement Protocol API secrets). Never answered back.",
    )
    event_name: str = Field(
        default=DEFAULT_EVENT,
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$",
        description="GA4's rule for names; not starting with google_, ga_ or firebase_",
    )
    region: Literal["global", "eu"] = Field(
        default="global", description="eu: collected by GA4's EU endpoint"
    )
    enabled: bool = True


class Ga4StreamOut(BaseModel):
    site_id: int
    measurement_id: str
    event_name: str
    region: str
    enabled: bool
    sent: int = Field(description="Calls delivered to GA4 since the stream was set up")
    waiting: int = Field(description="Queued or being retried")
    failed: int
    skipped: int = Field(description="Calls of visits without a GA client id: no event")
    updated_at: datetime


class Ga4TestOut(BaseModel):
    ok: bool
    messages: list[str] = Field(description="GA4's validation messages, or why it was not asked")
