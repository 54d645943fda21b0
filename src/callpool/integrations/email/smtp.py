"""Sending one email over SMTP (``CALLPOOL_SMTP_URL``), as one outbox attempt."""

from __future__ import annotations

import smtplib
import ssl
import time
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from callpool.db import Database
from callpool.integrations import outbox
from callpool.integrations.email.compose import compose
from callpool.models import User
from callpool.settings import Settings

TIMEOUT_SECONDS = 10.0
# smtp: STARTTLS (submission, port 587); smtps: TLS from the start (465); smtp+plain: no TLS,
# for a relay on the same machine or network.
DEFAULT_PORTS = {"smtp": 587, "smtps": 465, "smtp+plain": 25}


def is_on(settings: Settings) -> bool:
    return bool(settings.smtp_url)


def deliver(settings: Settings, message: EmailMessage) -> None:
    """``smtplib.SMTPException`` or ``OSError`` when it fails."""
    url = urlsplit(settings.smtp_url or "")
    if url.scheme not in DEFAULT_PORTS or not url.hostname:
        raise smtplib.SMTPException("CALLPOOL_SMTP_URL must be smtp://, smtps:// or smtp+plain://")
    port = url.port or DEFAULT_PORTS[url.scheme]
    client: smtplib.SMTP
    if url.scheme == "smtps":
        client = smtplib.SMTP_SSL(
            url.hostname, port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(url.hostname, port, timeout=TIMEOUT_SECONDS)
    with client:
        if url.scheme == "smtp":
            client.starttls(context=ssl.create_default_context())
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message)


def send(database: Database, settings: Settings, message: outbox.Message) -> outbox.Outcome:
    if not is_on(settings):
        return outbox.Outcome(ok=False, error="email is off (CALLPOOL_SMTP_URL)", permanent=True)
    with database.reader() as db:
        user = db.get(User, message.target_id)
        to = user.email if user else None
    if to is None:
        return outbox.Outcome(ok=False, error="the user was removed", permanent=True)
    started = time.perf_counter()
    try:
        deliver(settings, compose(settings, message.event, message.payload, to))
    except (smtplib.SMTPException, OSError) as error:
        return outbox.Outcome(
            ok=False,
            latency_ms=round((time.perf_counter() - started) * 1000),
            error=f"{type(error).__name__}: {error}",
        )
    return outbox.Outcome(ok=True, latency_ms=round((time.perf_counter() - started) * 1000))


DELIVERY = outbox.Delivery(send=send)
