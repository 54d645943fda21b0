"""Is the snippet working? What the verify step and pool health say about a site's last day.

"The number doesn't swap" is the most common complaint about DNI products. The snippet
reports, per page, how many places it swapped (``Pageview.swaps``); a page where it found
no business number reports 0. Together with refused origins (``sites.refusals``) these name
the usual install mistakes: the site's address missing from its origins, the number on the
page written otherwise than the pool's swap target, or the tag missing from some pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from callpool import clock
from callpool.db import Database
from callpool.models import Pageview, RefusedOrigin, VisitSession
from callpool.sites import refusals

DAY = timedelta(days=1)
MAX_LISTED = 20


@dataclass(frozen=True)
class UnswappedPage:
    url: str
    views: int
    last_at: datetime


@dataclass(frozen=True)
class InstallChecks:
    refused: list[RefusedOrigin]
    unswapped: list[UnswappedPage]
    never_swapped: bool  # visits in the last day, swaps reported, none of them above 0


def install_checks(database: Database, site_id: int, allowed_origins: list[str]) -> InstallChecks:
    """The site's last day. ``site_id`` must be the viewer's (the caller checked it)."""
    since = clock.now() - DAY
    in_last_day = (VisitSession.site_id == site_id, Pageview.at >= since)
    joined = select(Pageview).join(VisitSession, VisitSession.id == Pageview.session_id)
    with database.reader() as db:
        unswapped = db.execute(
            joined.with_only_columns(Pageview.url, func.count(), func.max(Pageview.at))
            .where(*in_last_day, Pageview.swaps == 0)
            .group_by(Pageview.url)
            .order_by(func.count().desc())
            .limit(MAX_LISTED)
        ).all()
        swapped = db.scalar(
            joined.with_only_columns(Pageview.id).where(*in_last_day, Pageview.swaps > 0).limit(1)
        )
    return InstallChecks(
        refused=refusals.recent(database, site_id, allowed_origins),
        unswapped=[UnswappedPage(url, views, at) for url, views, at in unswapped],
        never_swapped=bool(unswapped) and swapped is None,
    )
