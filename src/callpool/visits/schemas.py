"""What the snippet sends (short keys keep it small; see the protocol in ``api.py``).

Strict types: a number where a string belongs is an error, not something to coerce. Unknown
keys are ignored, so a newer snippet can talk to an older server.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from callpool.restapi import NO_NUL

MAX_BODY = 16 * 1024
MAX_URL = 4096
MAX_TEXT = 512
MAX_ID = 32  # visitor and session ids are ours: 22 characters


def _page_url(value: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be the page's http(s) URL")
    return value


# No NUL anywhere (NO_NUL): PostgreSQL cannot store one in text.
SiteKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID, pattern=NO_NUL)]
PageUrl = Annotated[
    str, StringConstraints(max_length=MAX_URL, pattern=NO_NUL), AfterValidator(_page_url)
]
Url = Annotated[str, StringConstraints(max_length=MAX_URL, pattern=NO_NUL)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT, pattern=NO_NUL)]


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    k: SiteKey
    # The page's ``_ga…`` cookies, ``name=value`` (``callpool.integrations.ga4.cookies`` keeps
    # GA's client and session ids and drops the rest), with the visit and with beacons too: GA's
    # tag may write its cookie after the visit's request. Not bounded item by item: a cookie
    # that is not GA's must never cost the visitor their number (the body's size bounds it).
    g: list[str] | None = None


class VisitIn(_Body):
    """The first pageview of a session, or one whose stored session may have expired."""

    v: Id | None = None
    s: Id | None = None
    u: PageUrl
    r: Url | None = None
    t: Text | None = None


# Places the snippet swapped on the page it is on (0: the business number was not found).
Swaps = Annotated[int, Field(ge=0, le=1_000_000)]


class PageviewIn(_Body):
    s: Id
    u: PageUrl
    t: Text | None = None
    w: Swaps | None = None


class HeartbeatIn(_Body):
    s: Id
    w: Swaps | None = None


class EventIn(_Body):
    s: Id
    e: Literal["tel_click"]
    n: Annotated[str, StringConstraints(max_length=32, pattern=NO_NUL)] | None = None
