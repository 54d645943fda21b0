"""One webhook attempt: sign per Standard Webhooks, POST to the checked address, report.

The ``webhook-id`` is the message's id, the same on every retry and redelivery, so a receiver
that sees it twice knows it is one message. The signature covers id, timestamp and body; after
a secret rotation the old secret signs too (space-separated signatures, as the specification
allows) until the grace period ends.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from datetime import datetime

from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from callpool import __version__, clock
from callpool.db import Database
from callpool.integrations import outbox
from callpool.integrations.email import notices
from callpool.integrations.webhooks import repository
from callpool.integrations.webhooks.addresses import Refused, Target, resolve
from callpool.models import WebhookEndpoint
from callpool.settings import Settings

TIMEOUT_SECONDS = 10.0
READ_BYTES = 1024


def signature(endpoint: WebhookEndpoint, message_id: str, at: datetime, body: str) -> str:
    secrets = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until
        and at < (endpoint.previous_secret_until)
    ):
        secrets.append(endpoint.previous_secret)
    return " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)


def body_of(message: outbox.Message) -> str:
    return json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False)


def send(database: Database, settings: Settings, message: outbox.Message) -> outbox.Outcome:
    with database.reader() as db:
        endpoint = db.get(WebhookEndpoint, message.target_id)
    if endpoint is None:
        return outbox.Outcome(ok=False, error="the endpoint was deleted", permanent=True)
    if not endpoint.enabled:
        return outbox.Outcome(ok=False, error="the endpoint is disabled", permanent=True)
    try:
        target = resolve(endpoint.url, allow_private=settings.webhooks_allow_private)
    except Refused as refused:
        return outbox.Outcome(ok=False, error=f"refused: {refused}")
    now = clock.now()
    body = body_of(message)
    headers = {
        "content-type": "application/json",
        "user-agent": f"callpool-webhooks/{__version__}",
        "webhook-id": message.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature(endpoint, message.message_id, now, body),
    }
    return post(target, body.encode(), headers)


def post(target: Target, body: bytes, headers: dict[str, str]) -> outbox.Outcome:
    """POST and read the start of the answer; redirects are not followed (a 3xx is a
    failure: following one would go to an address nobody checked)."""
    started = time.perf_counter()
    connection = _connection(target)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        start = response.read(READ_BYTES).decode("utf-8", "replace")
        code = response.status
    except (OSError, http.client.HTTPException) as error:
        return outbox.Outcome(
            ok=False, latency_ms=_ms(started), error=f"{type(error).__name__}: {error}"
        )
    finally:
        connection.close()
    ok = 200 <= code < 300
    return outbox.Outcome(
        ok=ok,
        response_code=code,
        response_start=start,
        latency_ms=_ms(started),
        error=None if ok else f"HTTP {code}",
    )


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the checked address; the Host header still names the URL's host."""

    def __init__(self, target: Target) -> None:
        super().__init__(target.host, target.port, timeout=TIMEOUT_SECONDS)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to the checked address, verified against the URL's host name (SNI as well)."""

    def __init__(self, target: Target) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=TIMEOUT_SECONDS, context=self._tls)
        self._address = target.address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def _connection(target: Target) -> http.client.HTTPConnection:
    return _PinnedHTTPS(target) if target.scheme == "https" else _PinnedHTTP(target)


def give_up(
    db: Session, settings: Settings, message: outbox.Message, outcome: outbox.Outcome
) -> None:
    """24 hours of failures: disable the endpoint, say why on its page, email the owners.
    Once: a disabled endpoint's later failures change nothing."""
    endpoint = db.get(WebhookEndpoint, message.target_id)
    if endpoint is None or not endpoint.enabled:
        return
    now = clock.now()
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = (
        f"Deliveries failed for 24 hours (last: {outcome.error or 'failed'}). "
        "Fix the receiver, enable the endpoint again and redeliver what it missed."
    )[:500]
    endpoint.updated_at = now
    notices.endpoint_disabled(db, endpoint, repository.owners(db, endpoint.account_id))


DELIVERY = outbox.Delivery(send=send, give_up=give_up)
