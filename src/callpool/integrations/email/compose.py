"""Email messages in words, from the outbox payloads (plain text: every client shows it)."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from callpool.clock import zone_named
from callpool.integrations.email.notices import (
    CALL,
    DIGEST,
    ENDPOINT_DISABLED,
    is_missed,
)
from callpool.settings import Settings


def sender(settings: Settings) -> str:
    return settings.email_from or f"callpool@{urlsplit(settings.public_url).hostname}"


def compose(settings: Settings, event: str, payload: dict[str, Any], to: str) -> EmailMessage:
    subject, text = WRITERS[event](settings, payload)
    message = EmailMessage()
    message["From"] = sender(settings)
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    return message


def journey_url(settings: Settings, call_id: int) -> str:
    return f"{settings.public_url}/dashboard/calls/{call_id}"


def _call(settings: Settings, payload: dict[str, Any]) -> tuple[str, str]:
    call = payload["call"]
    attribution = call["attribution"]
    source = _source(attribution)
    missed = is_missed(call["status"])
    subject = (
        f"{'Missed call' if missed else 'Call'} from {call['from_number']} "
        f"to {call['tracker_number']} ({source})"
    )
    lines = [
        f"Caller:        {call['from_number']}",
        f"Number called: {call['tracker_number']}"
        + (f" ({call['pool']['name']})" if call.get("pool") else ""),
        f"Status:        {call['status']}"
        + (f", {call['duration']} s" if call.get("duration") is not None else ""),
        f"Source:        {source}",
        f"Campaign:      {attribution.get('campaign') or '–'}",
        f"Landing page:  {attribution.get('landing_page') or '–'}",
        f"Started:       {call['started_at']}",
        "",
        f"The caller's journey: {journey_url(settings, call['id'])}",
    ]
    return subject, "\n".join(lines) + "\n"


def _source(attribution: dict[str, Any]) -> str:
    if not attribution.get("source"):
        return "not attributed"
    medium = attribution.get("medium")
    return f"{attribution['source']} / {medium}" if medium else str(attribution["source"])


def _digest(settings: Settings, payload: dict[str, Any]) -> tuple[str, str]:
    subject = f"Calls on {payload['day']}: {payload['total']} ({payload['missed']} missed)"
    zone = zone_named(payload.get("time_zone", "UTC"))  # digests queued before: UTC days
    lines = [
        f"{payload['total']} calls on {payload['day']} ({zone.key}), {payload['missed']} missed.",
        "",
    ]
    for call in payload["calls"]:
        attribution = call["attribution"]
        at = datetime.fromisoformat(call["started_at"]).astimezone(zone)
        lines.append(
            f"{at:%H:%M}  {call['from_number']} → {call['tracker_number']}  "
            f"{call['status']}  {_source(attribution)}"
            + (f"  {attribution['campaign']}" if attribution.get("campaign") else "")
            + f"  {journey_url(settings, call['id'])}"
        )
    return subject, "\n".join(lines) + "\n"


def _endpoint_disabled(settings: Settings, payload: dict[str, Any]) -> tuple[str, str]:
    # The host, not the URL: a subject too long to fold arrives with a leading space.
    subject = f"Webhook endpoint disabled: {urlsplit(payload['url']).hostname}"
    text = (
        f"callpool stopped sending to {payload['url']}.\n\n{payload['reason']}\n\n"
        f"{settings.public_url}/dashboard/webhooks/{payload['endpoint_id']}\n"
    )
    return subject, text


WRITERS = {CALL: _call, DIGEST: _digest, ENDPOINT_DISABLED: _endpoint_disabled}
