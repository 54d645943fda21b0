"""Who is emailed what: users' choices, and the email messages written to the outbox.

Per user and account: every call, missed calls only, or none (the default: email is opt-in),
and a daily digest of the previous day, the account's day (midnight to midnight in its time
zone, as the dashboard shows its times). An endpoint
disabled after 24 h of failures is told to the account's owners whatever they chose.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from callpool import clock
from callpool.calls import repository as calls_repository
from callpool.calls import service as calls_service
from callpool.clock import zone_named
from callpool.db import Database
from callpool.integrations import outbox
from callpool.models import Account, Call, EmailPreference, User, WebhookEndpoint
from callpool.telephony.base import MISSED as MISSED_CALL

EMAIL = "email"  # the outbox kind
ALL, MISSED, OFF = "all", "missed", "off"
CALL_CHOICES = (ALL, MISSED, OFF)
CALL, DIGEST, ENDPOINT_DISABLED = "call", "digest", "endpoint.disabled"  # email events
DIGEST_MAX_CALLS = 200


def is_missed(status: str | None) -> bool:
    return status in MISSED_CALL


# Choices


def preference(database: Database, account_id: int, user_id: int) -> EmailPreference:
    """The user's choices (a default, unsaved, when they never chose)."""
    with database.reader() as db:
        return _preference(db, account_id, user_id)


def _preference(db: Session, account_id: int, user_id: int) -> EmailPreference:
    found = db.scalar(
        select(EmailPreference).where(
            EmailPreference.account_id == account_id, EmailPreference.user_id == user_id
        )
    )
    return found or EmailPreference(
        account_id=account_id, user_id=user_id, calls=OFF, daily_digest=False
    )


def choose(
    database: Database, account_id: int, user_id: int, *, calls: str, daily_digest: bool
) -> None:
    """Save the user's choices (the dashboard's email page calls it; it owns the transaction)."""
    if calls not in CALL_CHOICES:
        raise ValueError(f"calls must be one of {', '.join(CALL_CHOICES)}")
    with database.session() as db:
        chosen = _preference(db, account_id, user_id)
        chosen.calls = calls
        chosen.daily_digest = daily_digest
        db.add(chosen)


# Messages


def call_recipients(db: Session, call: Call) -> list[int]:
    """Users of the call's account who want an email about it."""
    rows = db.execute(
        select(EmailPreference.user_id, EmailPreference.calls).where(
            EmailPreference.account_id == call.account_id, EmailPreference.calls != OFF
        )
    ).all()
    missed = is_missed(call.status)
    return [user_id for user_id, calls in rows if calls == ALL or (calls == MISSED and missed)]


def anyone_emailed(db: Session, account_id: int) -> bool:
    """Whether a user of the account wants call emails at all (the final status decides)."""
    return (
        db.scalar(
            select(EmailPreference.id)
            .where(EmailPreference.account_id == account_id, EmailPreference.calls != OFF)
            .limit(1)
        )
        is not None
    )


def endpoint_disabled(db: Session, endpoint: WebhookEndpoint, owners: list[User]) -> None:
    payload = {"endpoint_id": endpoint.id, "url": endpoint.url, "reason": endpoint.disabled_reason}
    for owner in owners:
        outbox.enqueue(
            db,
            account_id=endpoint.account_id,
            kind=EMAIL,
            target_id=owner.id,
            event=ENDPOINT_DISABLED,
            payload=payload,
        )


def daily_digests(database: Database) -> int:
    """Write yesterday's digest for each user who wants one and has not had it; returns how
    many. Yesterday is the account's, in its time zone. Each is claimed by moving
    ``last_digest_on`` with a conditional UPDATE, so several workers write it once."""
    now = clock.now()
    with database.reader() as db:
        # Nowhere is yesterday later than UTC's today (UTC+14 is a day ahead): the users due
        # for that day include all due for their own, which the claim below checks.
        due = db.execute(
            select(EmailPreference.id, Account.time_zone)
            .join(Account, Account.id == EmailPreference.account_id)
            .where(_digest_due(now.date()))
        ).all()
    written = 0
    for preference_id, time_zone in due:
        zone = zone_named(time_zone)
        day = now.astimezone(zone).date() - timedelta(days=1)
        with database.session() as db:
            claimed = db.execute(
                update(EmailPreference)
                .where(EmailPreference.id == preference_id, _digest_due(day))
                .values(last_digest_on=day)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue
            chosen = db.get(EmailPreference, preference_id)
            assert chosen is not None
            outbox.enqueue(
                db,
                account_id=chosen.account_id,
                kind=EMAIL,
                target_id=chosen.user_id,
                event=DIGEST,
                payload=digest(db, chosen.account_id, day, zone),
            )
            written += 1
    return written


def _digest_due(day: date) -> Any:
    return (EmailPreference.daily_digest.is_(True)) & or_(
        EmailPreference.last_digest_on.is_(None), EmailPreference.last_digest_on < day
    )


def digest(db: Session, account_id: int, day: date, zone: ZoneInfo) -> dict[str, Any]:
    """The day's calls in ``zone``, newest first, as the API shows them (without journeys)."""
    # Midnight to midnight on the wall clock: 23 or 25 hours on a daylight-saving change.
    start = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    rows = calls_repository.list_calls(db, account_id, limit=DIGEST_MAX_CALLS, before=(end, 0))
    calls = [calls_service.call_out(row) for row in rows if row.call.started_at >= start]
    return {
        "day": day.isoformat(),
        "time_zone": zone.key,
        "total": len(calls),
        "missed": sum(1 for call in calls if is_missed(call.status)),
        "calls": [call.model_dump(mode="json") for call in calls],
    }
