"""The carriers' webhooks: ``/webhooks/{provider}/voice`` and ``…/status`` (``telephony.registry``).

Each request's signature is checked first, against the URL the carrier was given
(``CALLPOOL_PUBLIC_URL`` + path + query), before anything is read from or written to the
database: a forged request is answered 403 and leaves no trace. Twilio's webhooks are checked
with the Twilio auth token; the sandbox's (simulated calls) with callpool's secret key.

A voice webhook never waits for the database: it routes from the routing table, spools the
call to the local disk (its process's ``spool.Journal``) and answers; each process's
``SpoolDrainer`` then stores it. Only a
number the table lacks asks the database, for at most ``webhook_db_deadline_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from functools import partial
from typing import TypeVar

import anyio
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from callpool import clock
from callpool.calls import service, spool
from callpool.calls.routing import Route, refresh_routing, routing_table, warm_routing
from callpool.db import Database
from callpool.settings import Settings
from callpool.telephony import registry
from callpool.telephony.base import InboundCall, Provider

log = logging.getLogger(__name__)

# How often each app process re-reads the routing table, so pool changes made by another
# process reach it even if nobody called ``refresh_routing`` here (a number bought meanwhile
# is found by asking the database: see ``voice``).
ROUTING_REFRESH_SECONDS = 60.0
# The drainer looks at the spool this often even when no webhook woke it: entries left by an
# earlier run or by another process sharing the folder, statuses waiting for their call.
DRAIN_IDLE_SECONDS = 5.0
# While the database is away, the drainer tries again after 0.5 s, 1 s, 2 s … up to this.
DRAIN_BACKOFF_MAX_SECONDS = 5.0
# Spool writes wait for the disk (fsync), so not on the event loop; and not in the shared
# thread pool either, where threads stuck on a database lock may hold every slot.
_disk = ThreadPoolExecutor(max_workers=4, thread_name_prefix="spool-write")

T = TypeVar("T")


class SpoolDrainer:
    """Stores this process's spool in the database, in one thread: woken by every spooled
    webhook, paced by a backoff while the database is away, and held back until the database
    is migrated (``ready``: a process started during an outage migrates when it is back)."""

    def __init__(self, database: Database, settings: Settings, ready: threading.Event) -> None:
        self.database, self.settings, self.ready = database, settings, ready
        self._wake, self._stop = threading.Event(), threading.Event()
        self._wake.set()  # what an earlier run left behind, first
        self._thread = threading.Thread(target=self._run, daemon=True, name="spool-drainer")

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float) -> None:
        """Stop after the entry in hand; the rest stays spooled for the next start."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff, down = 0.0, False
        while not self._stop.is_set():
            if not self.ready.wait(1.0):  # not migrated yet: ``callpool serve`` is on it
                continue
            self._wake.wait(DRAIN_IDLE_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                replayed = service.replay(self.database, self.settings)
            except Exception:  # a bug, or the spool's disk: keep the thread, try again later
                log.exception("replaying the call spool failed")
                replayed = service.Replayed(0, unreachable=True)
            if not replayed.unreachable:
                if down:
                    log.warning("database reachable again: spooled calls are being stored")
                backoff, down = 0.0, False
                continue
            if not down:
                log.error(
                    "database unreachable or locked: calls are kept in %s until it answers",
                    self.settings.call_spool_dir,
                )
            backoff, down = min(max(backoff * 2, 0.5), DRAIN_BACKOFF_MAX_SECONDS), True
            self._stop.wait(backoff)  # new calls do not hurry a retry
            self._wake.set()


@asynccontextmanager
async def background(app: FastAPI) -> AsyncIterator[None]:
    """This process's webhook work besides requests: the routing table kept fresh, the spool
    drained into the database."""
    settings: Settings = app.state.settings
    database: Database = app.state.database
    routing_table(settings)  # loads the file: calls route even if the database never answers
    drainer = app.state.spool_drainer = SpoolDrainer(database, settings, app.state.database_ready)
    drainer.start()
    journal = app.state.spool_journal = spool.Journal(settings.call_spool_dir, drainer.wake)
    journal.start()
    if app.state.database_ready.is_set():  # else ``callpool serve`` refreshes it when it is
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
        await anyio.to_thread.run_sync(journal.close)
        await anyio.to_thread.run_sync(partial(drainer.stop, timeout=5.0))


async def _refresh_forever(database: Database, settings: Settings) -> None:
    while True:
        await asyncio.sleep(ROUTING_REFRESH_SECONDS)
        try:
            await run_in_threadpool(refresh_routing, database, settings)
        except Exception as error:  # the database is away: keep routing from what we have
            log.warning("routing refresh failed: %s", error)


router = APIRouter(prefix="/webhooks", include_in_schema=False, lifespan=background)


@router.post("/{provider_name}/voice")
async def voice(provider_name: str, request: Request) -> Response:
    """A call arrives at a tracker: answer how to route it, then store it in the background."""
    provider = webhook_provider(request, provider_name)
    params = await verified_params(request, provider)
    try:
        inbound = provider.parse_inbound(params)
    except ValueError as error:
        raise HTTPException(400, str(error)) from None
    inbound = replace(inbound, at=inbound.at or clock.now())
    settings = _settings(request)
    route = routing_table(settings).lookup(inbound.to_number)
    if route is None:
        route = await find_route_within_deadline(request, inbound)
    if route is None:
        body, media_type = provider.not_in_service_response()
    else:
        journal = _journal(request)
        forward = await _on_disk(
            service.take_call, settings, provider.name, inbound, route, journal
        )
        _drainer(request).wake()  # the journal wakes it too, once the entry is a file
        body, media_type = provider.forward_response(forward)
    return Response(body, media_type=media_type)


async def find_route_within_deadline(request: Request, inbound: InboundCall) -> Route | None:
    """Ask the database for a number the table lacks, no longer than the deadline (Twilio
    waits 15 s for an answer): a database that is away or stuck means "not in service"."""
    settings = _settings(request)
    find = partial(service.find_route, _database(request), settings, inbound.to_number)
    with anyio.move_on_after(settings.webhook_db_deadline_seconds):
        try:
            # The stuck thread finishes on its own; the route it may find is kept for later.
            return await anyio.to_thread.run_sync(find, abandon_on_cancel=True)
        except Exception as error:
            log.error(
                "call %s to %s: database unreachable: %s", inbound.call_id, inbound.to_number, error
            )
            return None
    log.error(
        "call %s to %s: not in the routing table, and the database did not answer in %ss",
        inbound.call_id,
        inbound.to_number,
        settings.webhook_db_deadline_seconds,
    )
    return None


@router.post("/{provider_name}/whisper")
async def whisper(provider_name: str, request: Request, say: str = "") -> Response:
    """What the business hears on answering a tracked call (the pool's whisper)."""
    provider = webhook_provider(request, provider_name)
    await verified_params(request, provider)
    body, media_type = provider.say_response(say[:300])
    return Response(body, media_type=media_type)


@router.post("/{provider_name}/status")
async def status(provider_name: str, request: Request) -> Response:
    """A call's status moved, or its recording is ready. Unknown calls are answered 200 too."""
    provider = webhook_provider(request, provider_name)
    params = await verified_params(request, provider)
    try:
        update = provider.parse_status(params)
    except ValueError as error:
        raise HTTPException(400, str(error)) from None
    await _on_disk(service.receive_status, _settings(request), update, _journal(request))
    _drainer(request).wake()
    return Response(status_code=200)


def webhook_provider(request: Request, name: str) -> Provider:
    """The provider whose webhook this is (``registry.webhook_provider``), else 404."""
    provider = registry.webhook_provider(name, _settings(request), request.app.state.provider)
    if provider is None:
        raise HTTPException(404, "no such webhook")
    return provider


async def verified_params(request: Request, provider: Provider) -> dict[str, str]:
    """The form parameters, once the signature proves the carrier sent them; else 403."""
    form = await request.form()
    params = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    url = _settings(request).public_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not provider.verify_request(url, params, provider.signature(request.headers)):
        log.warning("rejected %s webhook with a bad or missing signature", provider.name)
        raise HTTPException(403, "invalid or missing signature")
    return params


async def _on_disk(function: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_disk, partial(function, *args))


def _journal(request: Request) -> spool.Journal:
    journal: spool.Journal = request.app.state.spool_journal
    return journal


def _drainer(request: Request) -> SpoolDrainer:
    drainer: SpoolDrainer = request.app.state.spool_drainer
    return drainer


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database
