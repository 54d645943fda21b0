"""The pool page's actions on a leaked number: retire it, cancel its retirement, or move it
into a manual pool as a fixed source (``pools/leaks.py`` says what each does).

Registered ahead of ``setup``'s generic manual-pool tracker actions, whose path these share.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from callpool.dashboard.auth import CsrfChecked, CurrentViewer
from callpool.dashboard.forms import FormInvalid, PostedForm, build, text
from callpool.dashboard.render import DashboardRoute, redirect
from callpool.dashboard.setup import deps_of, pool_page_response
from callpool.errors import Conflict, Invalid
from callpool.pools import leaks
from callpool.pools.schemas import MoveToManual, RetireTracker
from callpool.restapi import Id
from callpool.telephony.base import ProviderError

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

NEW_POOL = "new"  # the move form's choice of a new manual pool


@router.post("/pools/{pool_id}/trackers/{tracker_id}/retire", dependencies=[CsrfChecked])
def retire(
    request: Request, viewer: CurrentViewer, pool_id: Id, tracker_id: Id, form: PostedForm
) -> Response:
    # A plain def, so in the thread pool: the replacement is bought from the carrier.
    try:
        data = build(RetireTracker, {"quiet_days": text(form, "quiet_days")})
        leaks.retire(deps_of(request), viewer.account_id, pool_id, tracker_id, data.quiet_days)
    except FormInvalid as invalid:
        message = f"Quiet period: {invalid.errors.get('quiet_days', invalid)} (1 to 365 days)"
        return _refused(request, viewer, pool_id, message, 422)
    except (Conflict, ProviderError) as error:
        return _failed(request, viewer, pool_id, error, "The number was not retired")
    return redirect(request, f"/dashboard/pools/{pool_id}?saved=retired#leaked")


@router.post("/pools/{pool_id}/trackers/{tracker_id}/cancel-retirement", dependencies=[CsrfChecked])
def cancel_retirement(
    request: Request, viewer: CurrentViewer, pool_id: Id, tracker_id: Id
) -> Response:
    try:
        leaks.cancel_retirement(deps_of(request), viewer.account_id, pool_id, tracker_id)
    except Conflict as error:
        return _refused(request, viewer, pool_id, str(error), 409)
    return redirect(request, f"/dashboard/pools/{pool_id}?saved=unretired#trackers")


@router.post("/pools/{pool_id}/trackers/{tracker_id}/move-to-manual", dependencies=[CsrfChecked])
def move_to_manual(
    request: Request, viewer: CurrentViewer, pool_id: Id, tracker_id: Id, form: PostedForm
) -> Response:
    target = text(form, "pool_id")
    new_pool = target in (None, NEW_POOL)
    # Every field is on the form: an emptied one is an error to show, not "the default".
    fields = {
        "pool_id": None if new_pool else target,
        "new_pool_name": (text(form, "new_pool_name") or "") if new_pool else None,
        "source": text(form, "source") or "",
        "medium": text(form, "medium") or "",
    }
    if not (fields["source"] and fields["medium"]) or fields["new_pool_name"] == "":
        message = "give the source and the medium (like offline / print), and a new pool a name"
        return _refused(request, viewer, pool_id, message, 422)
    try:
        data = build(MoveToManual, fields)
        outcome = leaks.move_to_manual(
            deps_of(request), viewer.account_id, pool_id, tracker_id, data
        )
    except FormInvalid as invalid:
        message = "; ".join(f"{name}: {problem}" for name, problem in invalid.errors.items())
        return _refused(request, viewer, pool_id, message, 422)
    except Invalid as error:
        return _refused(request, viewer, pool_id, str(error), 422)
    except (Conflict, ProviderError) as error:
        return _failed(request, viewer, pool_id, error, "The number was not moved")
    return redirect(request, f"/dashboard/pools/{outcome.tracker.pool_id}?saved=moved#trackers")


def _failed(
    request: Request, viewer: CurrentViewer, pool_id: int, error: Exception, outcome: str
) -> Response:
    if isinstance(error, ProviderError):
        return _refused(request, viewer, pool_id, error.explain(outcome), 502)
    return _refused(request, viewer, pool_id, str(error), 409)


def _refused(
    request: Request, viewer: CurrentViewer, pool_id: int, message: str, status_code: int
) -> Response:
    """The pool's page again, the reason above the leaked numbers; nothing was changed."""
    return pool_page_response(
        request, viewer, pool_id, errors={"form": message}, status_code=status_code
    )
