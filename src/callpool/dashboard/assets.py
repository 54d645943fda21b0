"""What browsers fetch beside the pages: the favicon, and the API docs from the app's own
files (Swagger UI vendored in ``static/vendor``, like htmx and uPlot: the docs work offline
and on networks that block CDNs)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from callpool.dashboard.render import STATIC

root = APIRouter(include_in_schema=False)

FAVICON = "/dashboard/static/favicon.svg"


@root.get("/favicon.ico")
def favicon() -> FileResponse:
    """Browsers ask for it on every page that names no icon (the demo site, the API docs)."""
    return FileResponse(
        STATIC / "favicon.svg",
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@root.get("/api/v1/docs")
def api_docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/api/v1/openapi.json",
        title="callpool API",
        swagger_js_url="/dashboard/static/vendor/swagger-ui-bundle.js",
        swagger_css_url="/dashboard/static/vendor/swagger-ui.css",
        swagger_favicon_url=FAVICON,
    )
