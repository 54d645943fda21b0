"""The site's own Google Analytics cookies, as the snippet sends them with a visit.

``_ga=GA1.1.1234567890.1700000000``: the client id is the last two fields. ``_ga_<stream>``
(one per GA4 data stream, named after the measurement id without ``G-``) holds the current GA
session id: third field in the older ``GS1.1.1700000000.3.1…`` form, after ``s`` in the newer
``GS2.1.s1700000000$o3$g1…``. Anything else is ignored: the snippet sends whatever ``_ga…``
cookies the page has, and this module alone decides what is kept (kept on the visit's session,
without the visit path importing anything else of the integrations).
"""

from __future__ import annotations

import re

MAX_COOKIES = 8
_CLIENT = re.compile(r"_ga=GA\d\.\d+\.(\d{1,20}\.\d{1,12})")
_SESSION = re.compile(r"_ga_([A-Z0-9]{1,20})=GS\d\.\d+\.s?(\d{1,12})")


def read(cookies: list[str] | None) -> tuple[str | None, dict[str, str] | None]:
    """(client id, {stream: GA session id}) from ``name=value`` strings; ``None`` for none."""
    client: str | None = None
    sessions: dict[str, str] = {}
    for cookie in (cookies or [])[:MAX_COOKIES]:
        cookie = cookie.strip()
        if found := _CLIENT.fullmatch(cookie.split(";")[0]):
            client = found[1]
        elif found := _SESSION.match(cookie):
            sessions[found[1]] = found[2]
    return client, sessions or None


def stream_of(measurement_id: str) -> str:
    """``G-ABC123`` → ``ABC123``, the ``_ga_<stream>`` cookie's suffix."""
    return measurement_id.removeprefix("G-")
