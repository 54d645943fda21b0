"""Rendering pages: Jinja2 templates, the session cookie, and errors shown as pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from callpool.clock import zone_named
from callpool.dashboard.auth import SignInRequired, browser_session, save_session
from callpool.db import UNAVAILABLE
from callpool.errors import DATABASE_UNAVAILABLE, RETRY_UNAVAILABLE, NotFound, log_unavailable
from callpool.phones import display
from callpool.telephony.base import ProviderError

HERE = Path(__file__).parent
STATIC = HERE / "static"

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def pretty_number(number: str | None, region: str = "US") -> str:
    """``+15125550100`` → ``(512) 555-0100`` for a US site, international form otherwise."""
    return display(number, region) if number else ""


@pass_context
def when(context: Context, value: datetime | None) -> str:
    """A moment in the viewer's account's time zone, named: an Austin business sees its
    7:09 pm call at 19:09 CST, not at 01:09 UTC."""
    if value is None:
        return ""
    viewer = context.get("viewer")
    local = value.astimezone(zone_named(getattr(viewer, "time_zone", "UTC")))
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or "UTC")


@pass_context
def local(context: Context, value: datetime | None, layout: str) -> str:
    """A moment in the viewer's account's time zone, laid out by ``layout`` (strftime)."""
    if value is None:
        return ""
    viewer = context.get("viewer")
    return value.astimezone(zone_named(getattr(viewer, "time_zone", "UTC"))).strftime(layout)


def seconds(value: int | float | None) -> str:
    if value is None:
        return "–"
    minutes, secs = divmod(int(value), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


templates.filters["phone"] = pretty_number
templates.filters["when"] = when
templates.filters["local"] = local
templates.filters["seconds"] = seconds
templates.filters["percent"] = lambda value: "–" if value is None else f"{value:.0%}"


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session = browser_session(request)
    html = templates.get_template(template).render(
        request=request, csrf=session.csrf, path=request.url.path, **context
    )
    response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
    save_session(request, response)
    return response


PAGE_HEADERS = {
    # Pages show one account's calls: no shared cache keeps them, no other site frames them.
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def redirect(request: Request, url: str) -> RedirectResponse:
    """303 See Other: after a POST the browser GETs the next page (no resubmission on reload)."""
    response = RedirectResponse(url, status_code=303)
    save_session(request, response)
    return response


class DashboardRoute(APIRoute):
    """Pages answer in pages: sign-in redirects, a 404 page, error messages in words."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as needed:
                return redirect(request, f"/dashboard/login?next={quote(needed.next_url)}")
            except NotFound:
                return render(request, "error.html", 404, title="Not found", message=_NOT_FOUND)
            except ProviderError as error:  # a page whose form cannot show it beside a field
                return render(
                    request, "error.html", error.http_status, title="Sorry", message=error.explain()
                )
            except UNAVAILABLE as error:
                log_unavailable(error)
                page = render(
                    request, "error.html", 503, title="Sorry", message=DATABASE_UNAVAILABLE
                )
                page.headers.update(RETRY_UNAVAILABLE)
                return page
            except HTTPException as error:
                if error.status_code >= 400 and isinstance(error.detail, str):
                    return render(
                        request,
                        "error.html",
                        error.status_code,
                        title="Sorry",
                        message=error.detail,
                    )
                raise

        return page_handler


_NOT_FOUND = "This page does not exist, or it belongs to an account you are not a member of."
