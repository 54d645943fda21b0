"""REST API for the sites' GA4 streams: ``/api/v1/integrations/ga4``."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from callpool.accounts.auth import AccountId, DatabaseDep
from callpool.db import Database
from callpool.errors import NotFound
from callpool.integrations.ga4 import service
from callpool.integrations.ga4.schemas import Ga4StreamIn, Ga4StreamOut, Ga4TestOut
from callpool.models import Ga4Stream
from callpool.restapi import API, NOT_FOUND, Id

router = APIRouter(prefix="/api/v1/integrations/ga4", tags=["integrations"], responses=API)


@router.get("")
def list_ga4_streams(account_id: AccountId, database: DatabaseDep) -> list[Ga4StreamOut]:
    """The streams of the account's sites, with what was sent and skipped."""
    with database.reader() as db:
        return [
            _out(found.stream, found.counts)
            for found in service.site_streams(db, account_id)
            if found.stream is not None and found.counts is not None
        ]


@router.put("/{site_id}", responses=NOT_FOUND)
def set_ga4_stream(
    site_id: Id, body: Ga4StreamIn, account_id: AccountId, database: DatabaseDep
) -> Ga4StreamOut:
    """Set up the site's stream, or change it. From then on, each call attributed to one of
    the site's visits that carried GA's cookies is sent to GA4 as an event."""
    chosen = service.StreamSettings(
        measurement_id=body.measurement_id,
        api_secret=body.api_secret,
        event_name=body.event_name,
        region=body.region,
        enabled=body.enabled,
    )
    service.save_stream(database, account_id, site_id, chosen)
    return _stream_out(database, account_id, site_id)


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_ga4_stream(site_id: Id, account_id: AccountId, database: DatabaseDep) -> None:
    """Stop sending the site's calls to GA4."""
    service.delete_stream(database, account_id, site_id)


@router.post("/{site_id}/test", responses=NOT_FOUND)
def test_ga4_stream(
    site_id: Id, request: Request, account_id: AccountId, database: DatabaseDep
) -> Ga4TestOut:
    """Check the stream with GA4's validation endpoint; when valid, send a test event, marked
    for GA4's DebugView."""
    result = service.send_test(database, request.app.state.settings, account_id, site_id)
    if result is None:
        raise NotFound(f"no GA4 stream for site {site_id}")
    return Ga4TestOut(ok=result.ok, messages=result.messages)


def _stream_out(database: Database, account_id: int, site_id: int) -> Ga4StreamOut:
    with database.reader() as db:
        stream = service.get_stream(db, account_id, site_id)
        if stream is None:
            raise NotFound(f"no GA4 stream for site {site_id}")
        return _out(stream, service.counts(db, stream))


def _out(stream: Ga4Stream, counts: service.Counts) -> Ga4StreamOut:
    return Ga4StreamOut(
        site_id=stream.site_id,
        measurement_id=stream.measurement_id,
        event_name=stream.event_name,
        region=stream.region,
        enabled=stream.enabled,
        sent=counts.sent,
        waiting=counts.waiting,
        failed=counts.failed,
        skipped=counts.skipped,
        updated_at=stream.updated_at,
    )
