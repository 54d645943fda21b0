"""What the calls API returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ClickIds(BaseModel):
    gclid: str | None = None
    gbraid: str | None = None
    wbraid: str | None = None
    fbclid: str | None = None
    msclkid: str | None = None
    ttclid: str | None = None


class AttributionOut(BaseModel):
    session_id: str | None = Field(description="The visit the call is attributed to")
    source: str | None
    medium: str | None
    campaign: str | None
    term: str | None = Field(description="The keyword (utm_term)")
    content: str | None
    click_ids: ClickIds
    landing_page: str | None
    referrer: str | None
    device: str | None = Field(
        default=None, description="The visit's device: desktop, mobile, tablet"
    )
    confidence: float = Field(description="0 (unattributed) … 1 (certain)")
    reason: str | None = Field(
        description="How it was attributed: lease, recent_lease, shared_lease_tel_click, "
        "shared_lease_caller_seen_before, shared_lease_line_type, shared_lease_recent_activity "
        "(a shared number: the evidence that decided), source_assignment, "
        "repeat_caller_first_touch, no_lease, no_assignment, attribution_failed"
    )
    candidates: list[str] = Field(
        description="Other sessions that may have made the call, likeliest first (the call's "
        "ranking says why)"
    )
    first_call_id: int | None = Field(description="A repeat caller's first call")


class PoolRef(BaseModel):
    id: int
    name: str
    kind: str


class CallOut(BaseModel):
    id: int
    provider: str
    provider_call_id: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    duration: int | None = Field(description="Seconds")
    recording_url: str | None
    from_number: str = Field(description="The caller")
    tracker_number: str = Field(description="The tracking number that was dialled")
    forwarded_to: str | None
    caller_line_type: str | None = Field(
        default=None,
        description="The caller's line as the carrier reported it (a line-type lookup "
        "Add-on on the number): mobile, landline or voip (fixed VoIP); null when not sent",
    )
    tracker_id: int | None
    pool: PoolRef | None
    attribution: AttributionOut


class CallPage(BaseModel):
    calls: list[CallOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page")


class PageviewOut(BaseModel):
    url: str
    title: str | None
    at: datetime
    seconds_from_start: int


class PreviousCall(BaseModel):
    id: int
    started_at: datetime
    status: str
    duration: int | None
    source: str | None
    medium: str | None


class Journey(BaseModel):
    session_started_at: datetime | None
    landing_page: str | None
    pageviews: list[PageviewOut]
    seconds_to_call: int | None = Field(description="From the visit's start to the call")
    previous_calls: list[PreviousCall] = Field(description="The same caller's earlier calls")


class RankedVisit(BaseModel):
    """One of the visits that shared the called number, with the evidence for it."""

    session_id: str
    rank: int = Field(description="1: the visit the call is attributed to")
    reasons: list[str] = Field(
        description="What ranks it there, in order of trust: tel_click (tapped this number's "
        "link just before the call), caller_seen_before (the caller's earlier call was this "
        "visitor's), line_type (its device fits the caller's landline or fixed VoIP line), "
        "line_type_mismatch (against it: on a phone, the caller on a fixed line), "
        "latest_activity (the visit active nearest the call)"
    )
    source: str | None
    medium: str | None
    landing_page: str | None
    device: str | None
    last_seen_at: datetime | None = Field(description="The visit's last activity")


class CallDetail(CallOut):
    journey: Journey
    ranking: list[RankedVisit] = Field(
        default_factory=list,
        description="When several visits shared the number at the time: each of them, the "
        "likeliest first, with its reasons; empty when one visit (or none) had it",
    )
