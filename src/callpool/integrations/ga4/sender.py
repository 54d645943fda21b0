"""A call sent to GA4 as a Measurement Protocol event, through the outbox.

``call_ended`` (from ``events.call_ended``) writes one ``ga4`` message for a call attributed to
a visit of a site with a GA4 stream, when the visit brought a GA client id; without one GA4
cannot join the event to a visitor, so nothing is sent (the dashboard counts those calls). The
message is due when the call's status has settled (``events.SETTLE_CALL``), and the event is
built at send time from the call as it stands: its final duration and status.

GA4 answers 2xx even to a payload it drops, so a 2xx is all an attempt can learn; the
dashboard's test button asks the validation endpoint (``service.test_event``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from callpool import __version__
from callpool.db import Database
from callpool.integrations import outbox
from callpool.integrations.ga4.cookies import stream_of
from callpool.integrations.webhooks import sender as webhook_sender
from callpool.integrations.webhooks.addresses import Refused, resolve
from callpool.models import Call, Ga4Stream, VisitSession
from callpool.settings import Settings

GA4 = "ga4"  # the outbox kind
EVENT = "ga4.call"
ENDPOINTS = {
    "global": "https://www.google-analytics.com",
    # Collected and processed in the EU (GA4's regional endpoint).
    "eu": "https://region1.google-analytics.com",
}
TIMEOUT_SECONDS = 10.0
READ_BYTES = 64 * 1024  # the validation endpoint's messages
HEADERS = {"content-type": "application/json", "user-agent": f"callpool/{__version__}"}


def stream_for_session(db: Session, session: VisitSession) -> Ga4Stream | None:
    stream: Ga4Stream | None = db.scalar(
        select(Ga4Stream).where(Ga4Stream.site_id == session.site_id, Ga4Stream.enabled)
    )
    return stream


def call_ended(db: Session, call: Call, delay: timedelta) -> None:
    """Write the call's GA4 message, once, if there is a stream and a GA client id."""
    if call.session_id is None:
        return
    session = db.get(VisitSession, call.session_id)
    if session is None or session.ga_client_id is None:
        return
    stream = stream_for_session(db, session)
    if stream is None:
        return
    outbox.enqueue(
        db,
        account_id=call.account_id,
        kind=GA4,
        target_id=call.id,
        event=EVENT,
        payload={},  # built when sent, from the settled call
        dedupe_key=f"{GA4}:{call.id}",
        delay=delay,
    )


def event(call: Call, session: VisitSession, stream: Ga4Stream) -> dict[str, Any]:
    """The Measurement Protocol body: the visitor's client id, the GA session when the visit
    had one (so GA4 credits the call to that session's traffic source), the call's facts."""
    params: dict[str, Any] = {
        "call_duration": call.duration or 0,
        "call_status": call.status,
        "call_source": call.source or session.source,
        "call_medium": call.medium or session.medium,
        "call_id": call.id,
        # GA4 counts an event without engagement time as out of any session.
        "engagement_time_msec": 1,
    }
    if session.campaign:
        params["call_campaign"] = session.campaign
    ga_session = (session.ga_sessions or {}).get(stream_of(stream.measurement_id))
    if ga_session:
        params["session_id"] = ga_session
    return {
        "client_id": session.ga_client_id,
        "timestamp_micros": int(call.started_at.timestamp() * 1_000_000),
        "events": [{"name": stream.event_name, "params": params}],
    }


def collect_url(settings: Settings, stream: Ga4Stream, *, debug: bool = False) -> str:
    base = (settings.ga4_endpoint or ENDPOINTS.get(stream.region, ENDPOINTS["global"])).rstrip("/")
    query = urlencode({"measurement_id": stream.measurement_id, "api_secret": stream.api_secret})
    return f"{base}{'/debug' if debug else ''}/mp/collect?{query}"


def post(url: str, body: dict[str, Any]) -> tuple[int, str]:
    """(status, the answer) for the test button, which shows the validation endpoint's whole
    answer; ``OSError`` when nothing came back."""
    request = urllib.request.Request(  # noqa: S310 (http(s) only, checked below)
        url,
        data=json.dumps(body, separators=(",", ":")).encode(),
        headers=HEADERS,
        method="POST",
    )
    if not url.startswith(("https://", "http://")):
        raise OSError(f"not an http(s) URL: {url}")  # CALLPOOL_GA4_ENDPOINT, mistyped
    try:
        # The operator's endpoint (CALLPOOL_GA4_ENDPOINT) or Google's; http(s) only (above).
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, response.read(READ_BYTES).decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read(READ_BYTES).decode("utf-8", "replace")


def send(database: Database, settings: Settings, message: outbox.Message) -> outbox.Outcome:
    with database.reader() as db:
        call = db.get(Call, message.target_id)
        session = db.get(VisitSession, call.session_id) if call and call.session_id else None
        stream = stream_for_session(db, session) if session else None
        if call is None or session is None or stream is None:
            return outbox.Outcome(ok=False, error="GA4 is off for this site", permanent=True)
        url, body = collect_url(settings, stream), event(call, session, stream)
    try:
        # Google's endpoint or the operator's (CALLPOOL_GA4_ENDPOINT), never a tenant's URL:
        # no private-address rule; the webhooks' POST then reports the attempt alike.
        target = resolve(url, allow_private=True)
    except Refused as refused:
        return outbox.Outcome(ok=False, error=f"CALLPOOL_GA4_ENDPOINT: {refused}")
    return webhook_sender.post(target, json.dumps(body, separators=(",", ":")).encode(), HEADERS)


DELIVERY = outbox.Delivery(send=send)
