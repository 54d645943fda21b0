"""``/api/v1/pools``: pools of every kind, their trackers, and the source-level actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from callpool.accounts.auth import AccountId, DatabaseDep
from callpool.models.tracker import TrackerStatus
from callpool.pools import leaks, service
from callpool.pools.leaks import LeakOutcome
from callpool.pools.schemas import (
    AddTrackers,
    Diagnostics,
    LeakActionOut,
    MoveToManual,
    PoolCreate,
    PoolOut,
    PoolUpdate,
    ReassignOut,
    RebalanceOut,
    RetireTracker,
    SourceMedium,
    TrackerOut,
)
from callpool.pools.service import Deps
from callpool.restapi import API, CONFLICT, NOT_FOUND, PROVIDER_FAILED, Id

router = APIRouter(prefix="/api/v1/pools", tags=["pools"], responses=API)
# Routes that buy or release numbers may also meet the provider failing (a ProviderError:
# answered by create_app's handler, 422 for a refusal, 502 for an outage).
AT_PROVIDER = {**NOT_FOUND, **CONFLICT, **PROVIDER_FAILED}


def get_deps(request: Request, database: DatabaseDep) -> Deps:
    return Deps(database, request.app.state.provider, request.app.state.settings)


DepsDep = Annotated[Deps, Depends(get_deps)]


@router.post("", status_code=201, responses=AT_PROVIDER)
def create_pool(data: PoolCreate, account_id: AccountId, deps: DepsDep) -> PoolOut:
    """Create a pool and buy its trackers (in its area code, or toll-free)."""
    return service.create_pool(deps, account_id, data)


@router.get("", responses=NOT_FOUND)
def list_pools(account_id: AccountId, deps: DepsDep, site_id: Id | None = None) -> list[PoolOut]:
    return service.list_pools(deps, account_id, site_id)


@router.get("/{pool_id}", responses=NOT_FOUND)
def get_pool(pool_id: Id, account_id: AccountId, deps: DepsDep) -> PoolOut:
    return service.get_pool(deps, account_id, pool_id)


@router.patch("/{pool_id}", responses=AT_PROVIDER)
def update_pool(pool_id: Id, data: PoolUpdate, account_id: AccountId, deps: DepsDep) -> PoolOut:
    """Change settings. Size, utilization and original number behave as the pools FAQ says."""
    return service.update_pool(deps, account_id, pool_id, data)


@router.delete("/{pool_id}", status_code=204, responses=AT_PROVIDER)
def delete_pool(pool_id: Id, account_id: AccountId, deps: DepsDep) -> Response:
    """Release the pool's numbers; its calls keep their attribution."""
    service.delete_pool(deps, account_id, pool_id)
    return Response(status_code=204)


@router.post("/{pool_id}/rebalance", responses=AT_PROVIDER)
def rebalance(pool_id: Id, account_id: AccountId, deps: DepsDep) -> RebalanceOut:
    """Run the rebalance now (it also runs on every change and periodically)."""
    outcome = service.rebalance_now(deps, account_id, pool_id)
    return RebalanceOut.model_validate(outcome, from_attributes=True)


@router.post("/{pool_id}/reassign-original-number", responses=NOT_FOUND)
def reassign_original_number(pool_id: Id, account_id: AccountId, deps: DepsDep) -> ReassignOut:
    """Move active and flagged trackers to the pool's current original number."""
    return ReassignOut(reassigned=service.reassign_original_number(deps, account_id, pool_id))


@router.get("/{pool_id}/diagnostics", responses=NOT_FOUND)
def diagnostics(pool_id: Id, account_id: AccountId, deps: DepsDep) -> Diagnostics:
    """Why is my pool not activating the right number of trackers? One line per source/medium."""
    return service.diagnostics(deps, account_id, pool_id)


@router.get("/{pool_id}/trackers", responses=NOT_FOUND)
def list_trackers(
    pool_id: Id, account_id: AccountId, deps: DepsDep, status: TrackerStatus | None = None
) -> list[TrackerOut]:
    trackers = service.list_trackers(deps, account_id, pool_id, status)
    return [TrackerOut.model_validate(tracker) for tracker in trackers]


@router.post("/{pool_id}/trackers", status_code=201, responses=AT_PROVIDER)
def add_trackers(
    pool_id: Id, data: AddTrackers, account_id: AccountId, deps: DepsDep
) -> list[TrackerOut]:
    """Buy ``count`` more numbers in the pool's area code, or the given ``number``."""
    trackers = service.add_trackers(deps, account_id, pool_id, data)
    return [TrackerOut.model_validate(tracker) for tracker in trackers]


@router.post("/{pool_id}/trackers/{tracker_id}/release", responses=AT_PROVIDER)
def release_tracker(
    pool_id: Id, tracker_id: Id, account_id: AccountId, deps: DepsDep
) -> TrackerOut:
    """Give the number back to the provider; the tracker stays listed as released."""
    tracker = service.release(deps, account_id, pool_id, tracker_id)
    return TrackerOut.model_validate(tracker)


@router.post("/{pool_id}/trackers/{tracker_id}/activate", responses={**NOT_FOUND, **CONFLICT})
def activate_tracker(
    pool_id: Id, tracker_id: Id, data: SourceMedium, account_id: AccountId, deps: DepsDep
) -> TrackerOut:
    """Manual pools: an available tracker starts serving a source/medium."""
    key = (data.source, data.medium)
    tracker = service.manual_action(deps, account_id, pool_id, tracker_id, "activate", key)
    return TrackerOut.model_validate(tracker)


@router.post("/{pool_id}/trackers/{tracker_id}/assign", responses={**NOT_FOUND, **CONFLICT})
def assign_tracker(
    pool_id: Id, tracker_id: Id, data: SourceMedium, account_id: AccountId, deps: DepsDep
) -> TrackerOut:
    """Manual pools: an active tracker serves another source/medium from now on."""
    key = (data.source, data.medium)
    tracker = service.manual_action(deps, account_id, pool_id, tracker_id, "assign", key)
    return TrackerOut.model_validate(tracker)


@router.post("/{pool_id}/trackers/{tracker_id}/flag", responses={**NOT_FOUND, **CONFLICT})
def flag_tracker(pool_id: Id, tracker_id: Id, account_id: AccountId, deps: DepsDep) -> TrackerOut:
    """Manual pools: stop showing the tracker; it keeps routing calls until its timeline ends,
    then it is deleted."""
    tracker = service.manual_action(deps, account_id, pool_id, tracker_id, "flag")
    return TrackerOut.model_validate(tracker)


@router.post("/{pool_id}/trackers/{tracker_id}/unflag", responses={**NOT_FOUND, **CONFLICT})
def unflag_tracker(pool_id: Id, tracker_id: Id, account_id: AccountId, deps: DepsDep) -> TrackerOut:
    """Manual pools: show a flagged tracker again for its source/medium."""
    tracker = service.manual_action(deps, account_id, pool_id, tracker_id, "unflag")
    return TrackerOut.model_validate(tracker)


# -- leaked numbers (pool health lists them) --------------------------------------------------


@router.post("/{pool_id}/trackers/{tracker_id}/retire", responses=AT_PROVIDER)
def retire_tracker(
    pool_id: Id,
    tracker_id: Id,
    account_id: AccountId,
    deps: DepsDep,
    data: RetireTracker | None = None,
) -> LeakActionOut:
    """Session pools: stop handing the number to visitors now (its calls are still forwarded
    and recorded), buy a replacement, and release it once it has had no call for
    ``quiet_days`` (30 by default)."""
    quiet_days = (data or RetireTracker()).quiet_days
    outcome = leaks.retire(deps, account_id, pool_id, tracker_id, quiet_days)
    return _leak_action(outcome)


@router.post(
    "/{pool_id}/trackers/{tracker_id}/cancel-retirement", responses={**NOT_FOUND, **CONFLICT}
)
def cancel_retirement(
    pool_id: Id, tracker_id: Id, account_id: AccountId, deps: DepsDep
) -> TrackerOut:
    """Session pools: a retiring number goes back to visitors; the pool keeps its replacement
    too (its size grows by one)."""
    return TrackerOut.model_validate(leaks.cancel_retirement(deps, account_id, pool_id, tracker_id))


@router.post("/{pool_id}/trackers/{tracker_id}/move-to-manual", responses=AT_PROVIDER)
def move_to_manual(
    pool_id: Id, tracker_id: Id, data: MoveToManual, account_id: AccountId, deps: DepsDep
) -> LeakActionOut:
    """Session pools: the number becomes a fixed source (``offline / print`` by default) of a
    manual pool of the same site, existing (``pool_id``) or new; its later calls are credited
    to that source, its earlier ones keep their attribution. A replacement is bought."""
    return _leak_action(leaks.move_to_manual(deps, account_id, pool_id, tracker_id, data))


def _leak_action(outcome: LeakOutcome) -> LeakActionOut:
    replacement = outcome.replacement
    return LeakActionOut(
        tracker=TrackerOut.model_validate(outcome.tracker),
        replacement=None if replacement is None else TrackerOut.model_validate(replacement),
    )
