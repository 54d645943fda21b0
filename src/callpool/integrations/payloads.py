"""The JSON that leaves callpool (documented in docs/webhooks.md).

Every message is ``{"type", "timestamp", "data"}``, as the Standard Webhooks specification
suggests. A call's data is what ``GET /api/v1/calls/{id}`` answers, built by the same functions
(``call_detail``), so the API and the webhooks never disagree. (``calls.service``
is imported as a module: it calls into ``events``, which needs this module, while loading.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from callpool import clock
from callpool.calls import repository as calls_repository
from callpool.calls import service as calls_service
from callpool.models import Call, Pool

CALL_STARTED = "call.started"
CALL_COMPLETED = "call.completed"
CALL_ATTRIBUTED = "call.attributed"
POOL_EXHAUSTED = "pool.exhausted"
EVENTS = (CALL_STARTED, CALL_COMPLETED, CALL_ATTRIBUTED, POOL_EXHAUSTED)


def envelope(event: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event, "timestamp": clock.now().isoformat(), "data": data}


def call_data(db: Session, call: Call) -> dict[str, Any]:
    """The call as the API shows it, with its attribution and the visitor's journey."""
    db.flush()  # the call may be new, or changed in this transaction
    row = calls_repository.get_call(db, call.account_id, call.id)
    detail = calls_service.call_detail(db, row)
    return {"call": detail.model_dump(mode="json")}


def pool_data(pool: Pool, *, first_at: str, events: int) -> dict[str, Any]:
    return {
        "pool": {
            "id": pool.id,
            "name": pool.name,
            "kind": pool.kind,
            "site_id": pool.site_id,
            "size": pool.size,
            "overflow_policy": pool.overflow_policy,
        },
        "first_exhausted_at": first_at,
        "exhaustions": events,
    }
