"""REST API for visit sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from callpool.accounts.auth import AccountId, DatabaseDep
from callpool.restapi import API, MAX_INT, NOT_FOUND, Id, Text
from callpool.sessions import service
from callpool.sessions.schemas import SessionDetail, SessionOut

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"], responses=API)


@router.get("", responses=NOT_FOUND)
def list_sessions(
    account_id: AccountId,
    database: DatabaseDep,
    site_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> list[SessionOut]:
    """The account's visits, newest first, each with the tracking number it was shown."""
    return service.latest_sessions(
        database, account_id, site_id=site_id, limit=limit, offset=offset
    )


@router.get("/{session_id}", responses=NOT_FOUND)
def get_session(
    session_id: Annotated[Text, Path(max_length=64)],
    account_id: AccountId,
    database: DatabaseDep,
) -> SessionDetail:
    """One visit with its pageviews in order."""
    return service.get_session(database, account_id, session_id)
