"""Serving the snippet: ``/s/callpool.<version>.js`` is immutable, ``/s/callpool.js`` and the
debug view ``/s/callpool-debug.js`` are not.

Sites install the versioned URL (with its integrity hash), so browsers keep it a year and a
later pageview runs the script from cache with no request. The plain URL, for hand-written
tags, is cached briefly so a new build reaches those sites within minutes.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from callpool.snippet.service import Script, debug_script, script

router = APIRouter(include_in_schema=False)

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"


@router.get("/s/callpool.js")
def latest(request: Request) -> Response:
    return _serve(request, script(), SHORT)


@router.get("/s/callpool-debug.js")
def debug_view(request: Request) -> Response:
    # Loaded with import() (a module script: CORS applies) by the snippet of any build, so
    # not immutable: a new build's view reaches a debugging tab within minutes.
    return _serve(request, debug_script(), SHORT)


@router.get("/s/callpool.{version}.js")
def versioned(version: str, request: Request) -> Response:
    # Another build's URL must not be cached forever with this build's bytes (its integrity
    # hash would not match anyway).
    if version != script().version:
        raise HTTPException(404, "unknown snippet version")
    return _serve(request, script(), IMMUTABLE)


def _serve(request: Request, current: Script, cache_control: str) -> Response:
    etag = f'"{current.version}"'
    headers = {
        "Cache-Control": cache_control,
        "ETag": etag,
        "Vary": "Accept-Encoding",
        # Cross-origin with `crossorigin="anonymous"` (needed for the integrity check), and the
        # debug view as a module script.
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    body = current.body
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = current.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)
