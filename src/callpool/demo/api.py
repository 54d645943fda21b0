"""``/demo/``: a plumber's website, the kind of site callpool is for, with the snippet installed.

The business number is written in several forms, in text and in ``tel:`` links, one split
across elements, one in a form field and one in a "never swap" area, so a new user sees what
is swapped and what is left alone. Add ``?callpool_debug=1`` to see the snippet's decisions.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from callpool.db import Database
from callpool.demo.service import demo_business
from callpool.snippet import install_tag

router = APIRouter(prefix="/demo", include_in_schema=False)

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

PAGES = {
    "": ("home.html", "Home"),
    "services": ("services.html", "Services"),
    "contact": ("contact.html", "Contact"),
    "locations/austin": ("austin.html", "Austin"),
}


@router.get("", response_model=None)
def root() -> RedirectResponse:
    return RedirectResponse("/demo/", status_code=308)


@router.get("/{page:path}", response_model=None)
def page(page: str, request: Request) -> HTMLResponse:
    if page not in PAGES:
        return HTMLResponse(templates.get_template("missing.html").render(), status_code=404)
    database: Database = request.app.state.database
    business = demo_business(database)
    if business is None:
        return HTMLResponse(templates.get_template("not_seeded.html").render(), status_code=503)
    template, title = PAGES[page]
    html = templates.get_template(template).render(
        title=title,
        phone=business.forms,
        # The page is on the server itself: a relative script URL, the same origin.
        snippet=install_tag("", business.site_key),
    )
    return HTMLResponse(html)
