"""The visit API the snippet talks to (``/t/…``).

Every request is a ``POST`` with a ``text/plain`` body holding JSON: a "simple" CORS request, so
browsers send no preflight. The answer carries ``Access-Control-Allow-Origin`` only for the
site's allowed origins (and the server's own origin, where the demo site lives); other origins
get 403. Errors are JSON ``{"detail": …}`` and store nothing. A database that cannot take the
request within 2 s gets 503 (see ``callpool.visits.group_commit``).

- ``/t/visit`` ``{k, v, s, u, r, t, g}`` → the visitor and session ids, the source, the numbers
  (``g``, in every request below too: the page's ``_ga…`` cookies, for GA4; see
  ``callpool.integrations.ga4.cookies``).
- ``/t/pageview`` ``{k, s, u, t}`` → 204 (sent with ``sendBeacon``; the answer is not read).
- ``/t/heartbeat`` ``{k, s}`` → 204, while the page is visible: keeps the lease.
- ``/t/event`` ``{k, s, e: "tel_click", n}`` → 204: a click on a ``tel:`` link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import orjson
from fastapi import HTTPException, Request, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from callpool.client_address import client_address
from callpool.db import Database
from callpool.errors import NotFound
from callpool.settings import Settings
from callpool.sites import refusals
from callpool.sites.schemas import origin_of
from callpool.visits import service
from callpool.visits.dispatch import Endpoint
from callpool.visits.group_commit import DatabaseBusy, GroupCommit
from callpool.visits.limits import Admission, NewSessionRate
from callpool.visits.schemas import MAX_BODY, EventIn, HeartbeatIn, PageviewIn, VisitIn
from callpool.visits.site_cache import SiteCache, SiteEntry

B = TypeVar("B", bound=BaseModel)
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class VisitPath:
    """What the ``/t/*`` endpoints share: built once per app, by ``create_app``."""

    database: Database
    sites: SiteCache  # the 5-second site cache
    commits: GroupCommit
    rate: NewSessionRate | None  # CALLPOOL_NEW_SESSIONS_PER_ADDRESS_PER_MINUTE; 0: none
    own_origin: str  # the server's own origin, where the demo site lives
    secret_key: str


def visit_path(settings: Settings, database: Database) -> VisitPath:
    per_minute = settings.new_sessions_per_address_per_minute
    return VisitPath(
        database=database,
        sites=SiteCache(database),
        commits=GroupCommit(database),
        rate=NewSessionRate(per_minute) if per_minute else None,
        own_origin=origin_of(settings.public_url),
        secret_key=settings.secret_key,
    )


def endpoints(path: VisitPath) -> dict[str, Endpoint]:
    """The ``/t/*`` endpoints by path, served ahead of FastAPI (``callpool.visits.dispatch``):
    the snippet's calls need none of FastAPI's parameter injection, and they are the hot
    path."""
    return {
        "/t/visit": partial(visit, path),
        "/t/pageview": partial(pageview, path),
        "/t/heartbeat": partial(heartbeat, path),
        "/t/event": partial(event, path),
    }


async def visit(path: VisitPath, request: Request) -> Response:
    body = await _parse(request, VisitIn)
    site, headers = await _site_and_origin(path, request, body.k)
    client = service.Client(
        user_agent=request.headers.get("user-agent", ""),
        # The socket's address, or the one a trusted proxy saw (CALLPOOL_TRUSTED_PROXIES).
        ip=client_address(request) if request.client else None,
    )
    admission = None if path.rate is None else Admission(path.rate)
    try:
        answer = await path.commits.run(
            service.visit, site, body, client, path.secret_key, admission
        )
    except DatabaseBusy as error:
        raise _busy(error, headers) from None
    except service.TooManySessions as error:
        raise HTTPException(429, str(error), headers={**headers, "Retry-After": "60"}) from None
    return Response(_visit_json(answer, site), media_type="application/json", headers=headers)


async def pageview(path: VisitPath, request: Request) -> Response:
    body = await _parse(request, PageviewIn)
    site, headers = await _site_and_origin(path, request, body.k)
    await _run_for_session(path, headers, service.pageview, site, body)
    return Response(status_code=204, headers=headers)


async def heartbeat(path: VisitPath, request: Request) -> Response:
    body = await _parse(request, HeartbeatIn)
    site, headers = await _site_and_origin(path, request, body.k)
    await _run_for_session(path, headers, service.heartbeat, site, body)
    return Response(status_code=204, headers=headers)


async def event(path: VisitPath, request: Request) -> Response:
    body = await _parse(request, EventIn)
    site, headers = await _site_and_origin(path, request, body.k)
    await _run_for_session(path, headers, service.event, site, body)
    return Response(status_code=204, headers=headers)


def _visit_json(answer: service.Visit, site: SiteEntry) -> bytes:
    source = answer.attribution
    return orjson.dumps(
        {
            "v": answer.visitor_id,
            "s": answer.session_id,
            "exp": int(answer.expires_at.timestamp() * 1000),
            "hb": site.heartbeat_seconds,
            "bot": answer.bot,
            "src": {
                "source": source.source,
                "medium": source.medium,
                "campaign": source.campaign,
                "term": source.term,
                "content": source.content,
            },
            "numbers": [
                {
                    "pool": shown.pool.id,
                    "pool_name": shown.pool.name,
                    "target": shown.pool.target,
                    "selector": shown.pool.selector,
                    "number": shown.number,
                    "display": service.display(shown.number, site.region),
                }
                for shown in answer.shown
            ],
        }
    )


async def _parse(request: Request, model: type[B]) -> B:
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY:
        raise HTTPException(413, f"body over {MAX_BODY} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise HTTPException(413, f"body over {MAX_BODY} bytes")
    try:
        return model.model_validate_json(bytes(raw))
    except ValidationError as error:
        raise HTTPException(400, _first_problem(error)) from None


def _first_problem(error: ValidationError) -> str:
    problem = error.errors(include_url=False)[0]
    if problem["type"] == "json_invalid":
        return "body is not valid JSON"
    where = ".".join(str(part) for part in problem["loc"]) or "body"
    return f"{where}: {problem['msg']}"


async def _site_and_origin(
    path: VisitPath, request: Request, site_key: str
) -> tuple[SiteEntry, dict[str, str]]:
    """The site of ``site_key`` and the CORS headers for this request's origin, or 404 / 403."""
    known, site = path.sites.cached(site_key)
    if not known:  # only a cache miss reads the database
        site = await _read(path.database, path.sites.site, site_key)
    if site is None:
        raise HTTPException(404, "unknown site key")
    origin = request.headers.get("origin", "").lower()
    cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if origin not in site.origins and origin != path.own_origin:
        if origin:  # listed on the verify step; at most one write a minute (sites.refusals)
            refusals.note(path.database, site.id, origin)
        # With CORS headers: the snippet can read the refusal, and its debug view says which
        # address to add (without them the browser shows only a generic block). It tells the
        # page nothing the page does not know already: its own address and its site key.
        raise HTTPException(
            403,
            f"origin {origin or '(none)'} is not allowed for this site: add it under "
            "Dashboard → site → allowed origins",
            headers=cors if origin else None,
        )
    return site, cors


async def _run_for_session(
    path: VisitPath, headers: dict[str, str], work: Callable[..., None], *args: Any
) -> None:
    try:
        await path.commits.run(work, *args)
    except NotFound as error:
        raise HTTPException(404, str(error), headers=headers) from None
    except DatabaseBusy as error:
        raise _busy(error, headers) from None


def _busy(error: DatabaseBusy, headers: dict[str, str]) -> HTTPException:
    """503: the database could not take the request in time (the snippet then keeps the
    page's own number); nothing of it is stored."""
    return HTTPException(503, str(error), headers={**headers, "Retry-After": "5"})


async def _read(database: Database, work: Callable[..., R], *args: Any) -> R:
    """Blocking reads: inline on SQLite (a local file, no waiting on a network), in the thread
    pool on PostgreSQL."""
    if database.is_sqlite:
        return work(*args)
    return await run_in_threadpool(work, *args)
