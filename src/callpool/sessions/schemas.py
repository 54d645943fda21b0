from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class PageviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    url: str
    title: str | None
    at: datetime


class SessionOut(BaseModel):
    """A visit, where it came from, and the tracking number it was shown."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    site_id: int
    visitor_id: str
    started_at: datetime
    last_seen_at: datetime
    source: str
    medium: str
    campaign: str | None
    term: str | None
    content: str | None
    gclid: str | None
    gbraid: str | None
    wbraid: str | None
    fbclid: str | None
    msclkid: str | None
    ttclid: str | None
    referrer: str | None
    landing_url: str
    device: str | None
    is_bot: bool
    pageview_count: int
    tracking_number: str | None = None


class SessionDetail(SessionOut):
    pageviews: list[PageviewOut]
