"""A site's GA4 stream: its settings, what was sent and skipped, and the test event.

Transactions: the functions the dashboard calls take the ``Database`` and open their own; the
ones taking a ``Session`` are steps inside them.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callpool import clock
from callpool.accounts.repository import scoped
from callpool.db import Database
from callpool.errors import Invalid, NotFound
from callpool.integrations import outbox
from callpool.integrations.ga4.sender import ENDPOINTS, GA4, collect_url, post
from callpool.models import Call, Ga4Stream, OutboxMessage, Site, VisitSession
from callpool.settings import Settings

MEASUREMENT_ID = re.compile(r"G-[A-Z0-9]{4,20}")
# GA4's rule for event names: a letter, then letters, digits or underscores, at most 40.
EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
RESERVED_PREFIXES = ("google_", "ga_", "firebase_")
DEFAULT_EVENT = "phone_call"


@dataclass(frozen=True)
class StreamSettings:
    measurement_id: str
    api_secret: str
    event_name: str = DEFAULT_EVENT
    region: str = "global"
    enabled: bool = True


def get_stream(db: Session, account_id: int, site_id: int) -> Ga4Stream | None:
    found: Ga4Stream | None = db.scalar(
        scoped(Ga4Stream, account_id).where(Ga4Stream.site_id == site_id)
    )
    return found


class SiteStream(NamedTuple):
    """One row of the dashboard's GA4 list: a live site, its stream if set up, and its counts."""

    site: Site
    stream: Ga4Stream | None
    counts: Counts | None


def site_streams(db: Session, account_id: int) -> list[SiteStream]:
    """The account's sites (not deleted), each with its stream (if any) and the stream's counts."""
    found = []
    for site in db.scalars(
        scoped(Site, account_id).where(Site.deleted_at.is_(None)).order_by(Site.id)
    ):
        stream = get_stream(db, account_id, site.id)
        found.append(SiteStream(site, stream, counts(db, stream) if stream else None))
    return found


def save_stream(database: Database, account_id: int, site_id: int, chosen: StreamSettings) -> None:
    """Create or change the site's stream; ``Invalid`` (nothing changed) for bad input."""
    with database.session() as db:
        _save_stream(db, account_id, site_id, chosen)


def _save_stream(db: Session, account_id: int, site_id: int, chosen: StreamSettings) -> None:
    site = db.scalar(scoped(Site, account_id).where(Site.id == site_id, Site.deleted_at.is_(None)))
    if site is None:
        raise NotFound(f"site {site_id} not found")
    check(chosen)
    now = clock.now()
    stream = get_stream(db, account_id, site_id)
    if stream is None:
        stream = Ga4Stream(account_id=account_id, site_id=site_id, created_at=now)
        db.add(stream)
    stream.measurement_id = chosen.measurement_id.strip().upper()
    stream.api_secret = chosen.api_secret.strip()
    stream.event_name = chosen.event_name.strip()
    stream.region = chosen.region
    stream.enabled = chosen.enabled
    stream.updated_at = now


def check(chosen: StreamSettings) -> None:
    if not MEASUREMENT_ID.fullmatch(chosen.measurement_id.strip().upper()):
        raise Invalid("the web stream's measurement ID, such as G-ABC123XYZ", "measurement_id")
    if not 1 <= len(chosen.api_secret.strip()) <= 100:
        raise Invalid(
            "create one in GA4: Admin → Data streams → the stream → Measurement Protocol API "
            "secrets",
            "api_secret",
        )
    name = chosen.event_name.strip()
    if not EVENT_NAME.fullmatch(name) or name.startswith(RESERVED_PREFIXES):
        raise Invalid(
            "letters, digits and underscores, starting with a letter, at most 40, not "
            "starting with google_, ga_ or firebase_",
            "event_name",
        )
    if chosen.region not in ENDPOINTS:
        raise Invalid("global or eu", "region")


def delete_stream(database: Database, account_id: int, site_id: int) -> None:
    with database.session() as db:
        stream = get_stream(db, account_id, site_id)
        if stream is None:
            raise NotFound("no GA4 stream for this site")
        db.delete(stream)


@dataclass(frozen=True)
class Counts:
    sent: int  # messages delivered
    waiting: int  # queued or being retried
    failed: int
    skipped: int  # calls attributed to a visit without a GA client id: no event


def counts(db: Session, stream: Ga4Stream) -> Counts:
    """Since the stream was set up: its calls sent, waiting, failed, and skipped."""
    calls = (
        select(Call.id)
        .join(VisitSession, VisitSession.id == Call.session_id)
        .where(
            Call.account_id == stream.account_id,
            VisitSession.site_id == stream.site_id,
            Call.started_at >= stream.created_at,
        )
    )
    skipped = db.scalar(
        select(func.count()).select_from(
            calls.where(VisitSession.ga_client_id.is_(None)).subquery()
        )
    )
    states = dict(
        db.execute(
            select(OutboxMessage.state, func.count())
            .where(
                OutboxMessage.account_id == stream.account_id,
                OutboxMessage.kind == GA4,
                OutboxMessage.target_id.in_(calls),
            )
            .group_by(OutboxMessage.state)
        ).all()
    )
    return Counts(
        sent=states.get(outbox.DELIVERED, 0),
        waiting=states.get(outbox.PENDING, 0) + states.get(outbox.SENDING, 0),
        failed=states.get(outbox.FAILED, 0),
        skipped=skipped or 0,
    )


@dataclass(frozen=True)
class TestResult:
    ok: bool
    messages: list[str]  # GA4's validation messages, or why it could not be asked


def send_test(
    database: Database, settings: Settings, account_id: int, site_id: int
) -> TestResult | None:
    """The test event for the site's stream, asked of GA4 after the read's transaction ends;
    ``None`` when the site has no stream yet. Blocking: call it off the event loop."""
    with database.reader() as db:
        stream = get_stream(db, account_id, site_id)
    return None if stream is None else test_event(settings, stream)


def test_event(settings: Settings, stream: Ga4Stream) -> TestResult:
    """Validate a sample event with GA4's validation endpoint (``/debug/mp/collect``), which
    says what is wrong where the real one answers 2xx to anything; when valid, send it for
    real, marked ``debug_mode`` so that it shows in GA4's DebugView. Blocking: call it off the
    event loop."""
    body: dict[str, Any] = {
        "client_id": f"{secrets.randbelow(10**9)}.{int(clock.now().timestamp())}",
        "events": [
            {
                "name": stream.event_name,
                "params": {
                    "call_duration": 90,
                    "call_status": "completed",
                    "call_source": "callpool",
                    "call_medium": "test",
                    "engagement_time_msec": 1,
                    "debug_mode": True,
                },
            }
        ],
    }
    try:
        code, answer = post(collect_url(settings, stream, debug=True), body)
        if not 200 <= code < 300:
            return TestResult(False, [f"the validation endpoint answered HTTP {code}"])
        messages = validation_messages(answer)
        if messages:
            return TestResult(False, messages)
        code, _ = post(collect_url(settings, stream), body)
    except OSError as error:
        return TestResult(False, [f"GA4 could not be reached: {error}"])
    if not 200 <= code < 300:
        return TestResult(False, [f"GA4 answered HTTP {code}"])
    return TestResult(True, [])


def validation_messages(answer: str) -> list[str]:
    try:
        found = json.loads(answer).get("validationMessages", [])
    except (ValueError, AttributeError):
        return ["the validation endpoint's answer was not JSON"]
    return [_message(m) for m in found if isinstance(m, dict)]


def _message(found: dict[str, Any]) -> str:
    where = found.get("fieldPath") or "event"
    return f"{where}: {found.get('description', '')} ({found.get('validationCode', '')})"
