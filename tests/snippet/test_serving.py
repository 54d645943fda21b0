"""Serving the snippet and the install tag; the demo site's pages (no browser needed)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from pathlib import Path

from fastapi.testclient import TestClient

from callpool import clock
from callpool.db import Database
from callpool.snippet import debug_script, install_tag, script
from tests.factories import Factory

STATIC = Path(__file__).parents[2] / "src" / "callpool" / "static"
BUILT = STATIC / "callpool.js"


def test_the_versioned_url_is_cached_for_a_year_and_the_plain_one_briefly(
    client: TestClient,
) -> None:
    version = script().version
    versioned = client.get(f"/s/callpool.{version}.js")
    assert versioned.status_code == 200
    assert versioned.content == BUILT.read_bytes()
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert versioned.headers["content-type"] == "text/javascript; charset=utf-8"
    assert versioned.headers["access-control-allow-origin"] == "*"
    plain = client.get("/s/callpool.js")
    assert plain.content == versioned.content
    assert plain.headers["cache-control"] == "public, max-age=300"


def test_the_version_is_a_hash_of_the_content(client: TestClient) -> None:
    assert script().version == hashlib.sha256(BUILT.read_bytes()).hexdigest()[:12]
    assert client.get("/s/callpool.0123456789ab.js").status_code == 404


def test_gzip_when_asked_and_304_when_unchanged(client: TestClient) -> None:
    url = f"/s/callpool.{script().version}.js"
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.content == BUILT.read_bytes()  # the client decompressed it
    assert len(script().gzipped) < len(BUILT.read_bytes()) * 0.7
    assert gzip.decompress(script().gzipped) == BUILT.read_bytes()
    etag = zipped.headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


def test_the_debug_view_is_its_own_script_for_any_origin(client: TestClient) -> None:
    view = client.get("/s/callpool-debug.js")
    assert view.status_code == 200
    assert view.content == (STATIC / "callpool-debug.js").read_bytes() == debug_script().body
    assert view.headers["content-type"] == "text/javascript; charset=utf-8"
    # Fetched with import(): a module script, so CORS applies.
    assert view.headers["access-control-allow-origin"] == "*"
    assert view.headers["cache-control"] == "public, max-age=300"
    # Visitors' script only knows where to find it.
    assert b"/s/callpool-debug.js" in BUILT.read_bytes()
    assert b"allowed origins" not in BUILT.read_bytes()


def test_the_install_tag_names_the_site_and_pins_the_build() -> None:
    tag = install_tag("https://calls.example.com/", 'key"<&', consent_required=True)
    stub, loader = tag.split("\n")
    assert stub.startswith("<script>window.callpool=window.callpool||function(){")
    src = re.search(r'src="([^"]+)"', loader)
    assert src is not None
    assert src.group(1) == f"https://calls.example.com/s/callpool.{script().version}.js"
    digest = base64.b64encode(hashlib.sha384(BUILT.read_bytes()).digest()).decode()
    assert f'integrity="sha384-{digest}"' in loader
    assert 'crossorigin="anonymous"' in loader
    assert 'data-key="key&quot;&lt;&amp;"' in loader  # escaped: no way out of the attribute
    assert 'data-consent="required"' in loader
    assert loader.startswith("<script async ")
    assert "data-consent" not in install_tag("https://calls.example.com", "k")
    # The stub is the build's (snippet/src/stub.js), counted in the snippet's size budget.
    assert stub == f"<script>{(STATIC / 'callpool-stub.js').read_text()}</script>"


def test_the_demo_site_before_and_after_it_is_seeded(
    client: TestClient, database: Database
) -> None:
    before = client.get("/demo/")
    assert before.status_code == 503
    assert "callpool demo" in before.text
    factory = Factory(database, clock.clock)
    site = factory.site(factory.account("Demo"), name="Demo", public_key="demo-key", region="US")
    factory.pool(
        site,
        name="Visitors",
        original_number="+15125550199",
        swap_number="+15125550199",
        size=3,
    )
    for path in ("/demo/", "/demo/services", "/demo/contact", "/demo/locations/austin"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'data-key="demo-key"' in page.text
        assert f'src="/s/callpool.{script().version}.js"' in page.text
        assert 'href="tel:+15125550199"' in page.text
    home = client.get("/demo/").text
    for written in ("(512) 555-0199", "512.555.0199", "+1 512-555-0199", "512-555-0199"):
        assert written in home
    assert client.get("/demo/nowhere").status_code == 404
    assert client.get("/demo", follow_redirects=False).headers["location"] == "/demo/"
