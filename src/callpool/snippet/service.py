"""The built snippet as bytes, its version and integrity hash, and the tag a site pastes."""

from __future__ import annotations

import base64
import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from importlib.resources import files


def _static(name: str) -> bytes:
    return files("callpool").joinpath(f"static/{name}").read_bytes()


# Queues calls made before the script has loaded; the script replays them. Its source is
# snippet/src/stub.js: the build counts it in the snippet's size budget.
STUB = _static("callpool-stub.js").decode()


@dataclass(frozen=True)
class Script:
    body: bytes
    gzipped: bytes
    version: str  # a content hash: a new build gets a new URL, so old copies can be cached forever
    integrity: str  # Subresource Integrity: a tampered copy on the way is refused by the browser


@lru_cache
def script() -> Script:
    return _script(_static("callpool.js"))


@lru_cache
def debug_script() -> Script:
    """The debug view, fetched by the snippet only in debug mode (``?callpool_debug=1``)."""
    return _script(_static("callpool-debug.js"))


def _script(body: bytes) -> Script:
    digest = base64.b64encode(hashlib.sha384(body).digest()).decode()
    return Script(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        version=hashlib.sha256(body).hexdigest()[:12],
        integrity=f"sha384-{digest}",
    )


def script_url(server_url: str) -> str:
    """The versioned URL; ``server_url`` may be ``""`` for a page on the server itself."""
    return f"{server_url.rstrip('/')}/s/callpool.{script().version}.js"


def install_tag(server_url: str, site_key: str, *, consent_required: bool = False) -> str:
    """The HTML a site pastes before ``</body>`` (or into its tag manager or layout).

    ``async``: a slow or unreachable server never holds up the host page; the snippet swaps
    what is already parsed and watches for the rest.
    """
    current = script()
    attributes = {
        "async": None,
        "src": script_url(server_url),
        "integrity": current.integrity,
        "crossorigin": "anonymous",
        "data-key": site_key,
    }
    if consent_required:
        attributes["data-consent"] = "required"
    rendered = " ".join(
        name if value is None else f'{name}="{escape(value)}"' for name, value in attributes.items()
    )
    return f"<script>{STUB}</script>\n<script {rendered}></script>"
