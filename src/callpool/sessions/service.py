"""Visit sessions as the REST API and the dashboard read them.

Transactions: each function here opens its own (``database.reader()``); handlers never do.
"""

from __future__ import annotations

from callpool.db import Database
from callpool.sessions import repository
from callpool.sessions.schemas import PageviewOut, SessionDetail, SessionOut


def latest_sessions(
    database: Database, account_id: int, *, site_id: int | None, limit: int, offset: int
) -> list[SessionOut]:
    """The account's visits (or one site's), newest first, each with the tracking number it
    was shown."""
    with database.reader() as db:
        visits = repository.latest_sessions(
            db, account_id, site_id=site_id, limit=limit, offset=offset
        )
        numbers = repository.numbers_shown(db, [visit.id for visit in visits])
        return [
            SessionOut.model_validate(visit).model_copy(
                update={"tracking_number": numbers.get(visit.id)}
            )
            for visit in visits
        ]


def get_session(database: Database, account_id: int, session_id: str) -> SessionDetail:
    """One visit with its pageviews in order; another account's is ``NotFound``."""
    with database.reader() as db:
        visit, pageviews = repository.session_with_pageviews(db, account_id, session_id)
        numbers = repository.numbers_shown(db, [visit.id])
        return SessionDetail.model_validate(
            {
                **SessionOut.model_validate(visit).model_dump(),
                "tracking_number": numbers.get(visit.id),
                "pageviews": [PageviewOut.model_validate(view) for view in pageviews],
            }
        )
