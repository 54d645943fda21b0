"""Calls REST API: ``GET /api/v1/calls`` and ``GET /api/v1/calls/{id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from callpool.accounts.auth import AccountId, DatabaseDep
from callpool.calls import service
from callpool.calls.schemas import CallDetail, CallPage
from callpool.restapi import API, NOT_FOUND, Id, Text

router = APIRouter(prefix="/api/v1/calls", tags=["calls"], responses=API)


@router.get("", response_model=CallPage)
def list_calls(
    account_id: AccountId,
    database: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[Text | None, Query(max_length=200)] = None,
) -> CallPage:
    """The account's calls, newest first, each with its attribution.

    Pages: pass the answer's ``next_cursor`` as ``cursor`` for the next, older page; a cursor
    this API did not return is refused (422, field ``cursor``).
    """
    return service.list_calls(database, account_id, limit=limit, cursor=cursor)


@router.get("/{call_id}", response_model=CallDetail, responses=NOT_FOUND)
def get_call(call_id: Id, account_id: AccountId, database: DatabaseDep) -> CallDetail:
    """One call with the visitor's journey: landing page, pages viewed, time to call, and the
    same caller's earlier calls. Another account's call is a 404."""
    return service.get_call(database, account_id, call_id)
