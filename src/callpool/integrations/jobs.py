"""The worker's integration jobs, and the kinds of delivery the outbox knows.

A new kind of delivery (Google Ads, GA4) is a module with a ``DELIVERY`` and one line in
``KINDS``.
"""

from __future__ import annotations

from callpool.db import Database
from callpool.integrations import events, outbox
from callpool.integrations.email import notices, smtp
from callpool.integrations.ga4 import sender as ga4
from callpool.integrations.webhooks import sender
from callpool.integrations.webhooks.repository import WEBHOOK
from callpool.settings import Settings

KINDS: dict[str, outbox.Delivery] = {
    WEBHOOK: sender.DELIVERY,
    notices.EMAIL: smtp.DELIVERY,
    events.SETTLE: outbox.Delivery(send=events.settle_call),
    ga4.GA4: ga4.DELIVERY,
}


def deliver(database: Database, settings: Settings, *, senders: int = outbox.SENDERS) -> int:
    """Prompt work, run every ``outbox_interval_seconds``: new pool.exhausted messages, then
    whatever is due. Both only read when there is nothing to do."""
    events.exhausted_pools(database)
    return outbox.deliver_due(database, settings, KINDS, senders=senders)


def daily(database: Database, settings: Settings) -> int:
    """Slow work, on the worker's ordinary round: the daily digests (once a day per user who
    wants one, when email is on), and old messages' removal."""
    outbox.purge(database)
    return notices.daily_digests(database) if smtp.is_on(settings) else 0
