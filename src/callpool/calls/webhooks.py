"""The carriers' webhooks: ``/webhooks/{twilio|sandbox}/voice`` and ``…/status``.

Each request's signature is checked first, against the URL the carrier was given
(``CALLPOOL_PUBLIC_URL`` + path + query), before anything is read from or written to the
database: a forged request is answered 403 and leaves no trace. Twilio's webhooks are checked
with the Twilio auth token; the sandbox's (simulated calls) with callpool's secret key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from functools import partial

import anyio
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from callpool import clock
from callpool.calls import service
from callpool.calls.routing import refresh_routing, routing_table, warm_routing
from callpool.db import Database
from callpool.settings import Settings
from callpool.telephony.base import Forward, InboundCall, Provider
from callpool.telephony.twilio import wire
from callpool.telephony.twilio.provider import TwilioProvider

log = logging.getLogger(__name__)

# How often each app process re-reads the routing table, so pool changes made by another
# process reach it even if nobody called ``refresh_routing`` here.
ROUTING_REFRESH_SECONDS = 60.0


@asynccontextmanager
async def keep_routing_fresh(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    database: Database = app.state.database
    routing_table(settings)  # loads the file: calls route even if the database never answers
    # A database that hangs (rather than refuses) must not hold up the start either.
    with anyio.move_on_after(settings.webhook_db_deadline_seconds):
        await anyio.to_thread.run_sync(
            partial(warm_routing, database, settings), abandon_on_cancel=True
        )
    task = asyncio.create_task(_refresh_forever(database, settings))
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def _refresh_forever(database: Database, settings: Settings) -> None:
    while True:
        await asyncio.sleep(ROUTING_REFRESH_SECONDS)
        try:
            await run_in_threadpool(refresh_routing, database, settings)
        except Exception as error:  # the database is away: keep routing from what we have
            log.warning("routing refresh failed: %s", error)


router = APIRouter(prefix="/webhooks", include_in_schema=False, lifespan=keep_routing_fresh)


@router.post("/{provider_name}/voice")
async def voice(provider_name: str, request: Request) -> Response:
    """A call arrives at a tracker: answer how to route it."""
    provider = webhook_provider(request, provider_name)
    params = await verified_params(request, provider)
    try:
        inbound = provider.parse_inbound(params)
    except ValueError as error:
        raise HTTPException(400, str(error)) from None
    forward = await route_within_deadline(request, provider.name, inbound)
    if forward is None:
        body, media_type = provider.not_in_service_response()
    else:
        body, media_type = provider.forward_response(forward)
    return Response(body, media_type=media_type)


async def route_within_deadline(
    request: Request, provider_name: str, inbound: InboundCall
) -> Forward | None:
    """Store and route the call; if the database is too slow to answer before the carrier
    gives up on us (Twilio waits 15 s), route from the local table and spool the call."""
    settings, database = _settings(request), _database(request)
    inbound = replace(inbound, at=inbound.at or clock.now())
    with anyio.move_on_after(settings.webhook_db_deadline_seconds):
        return await anyio.to_thread.run_sync(
            partial(service.receive_call, database, settings, provider_name, inbound),
            # The stuck thread finishes on its own; the call it may store is the spooled one.
            abandon_on_cancel=True,
        )
    log.error(
        "database slower than %ss for call %s",
        settings.webhook_db_deadline_seconds,
        inbound.call_id,
    )
    # In the event loop, not a worker thread: stuck threads may hold every worker slot.
    return service.route_from_table(settings, provider_name, inbound)


@router.post("/{provider_name}/whisper")
async def whisper(provider_name: str, request: Request, say: str = "") -> Response:
    """What the business hears on answering a tracked call (the pool's whisper)."""
    provider = webhook_provider(request, provider_name)
    await verified_params(request, provider)
    return Response(wire.say_twiml(say[:300]), media_type="application/xml")


@router.post("/{provider_name}/status")
async def status(provider_name: str, request: Request) -> Response:
    """A call's status moved, or its recording is ready. Unknown calls are answered 200 too."""
    provider = webhook_provider(request, provider_name)
    params = await verified_params(request, provider)
    try:
        update = provider.parse_status(params)
    except ValueError as error:
        raise HTTPException(400, str(error)) from None
    await run_in_threadpool(service.receive_status, _database(request), _settings(request), update)
    return Response(status_code=200)


def webhook_provider(request: Request, name: str) -> Provider:
    """The provider whose webhook this is. Twilio's exist whichever provider buys the numbers
    (they are signed with the Twilio auth token); the sandbox's only when the sandbox is the
    configured provider, so simulated calls can never be stored by a real deployment."""
    configured: Provider = request.app.state.provider
    if configured.name == name:
        return configured
    if name != "twilio":
        raise HTTPException(404, "no such webhook")
    settings = _settings(request)
    return TwilioProvider(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        api_base_url=settings.twilio_api_base_url,
    )


async def verified_params(request: Request, provider: Provider) -> dict[str, str]:
    """The form parameters, once the signature proves the carrier sent them; else 403."""
    form = await request.form()
    params = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    url = _settings(request).public_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not provider.verify_request(url, params, request.headers.get("X-Twilio-Signature")):
        log.warning("rejected %s webhook with a bad or missing signature", provider.name)
        raise HTTPException(403, "invalid or missing X-Twilio-Signature")
    return params


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database
