"""Step 3: the script tag a site pastes, and the same tag for each common kind of site."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from callpool.models import Site
from callpool.snippet import install_tag, script, script_url


@dataclass(frozen=True)
class Snippet:
    tag: str  # what a plain template, WordPress or Google Tag Manager takes
    nextjs: str  # a layout component of a React / Next.js app
    src: str
    integrity: str
    site_key: str


def snippet_for(request: Request, site: Site) -> Snippet:
    server = request.app.state.settings.public_url
    src, integrity = script_url(server), script().integrity
    nextjs = f"""import Script from "next/script";

// In app/layout.tsx (or pages/_app.tsx), inside <body>:
<Script id="callpool-stub" strategy="beforeInteractive">
  {{`window.callpool=window.callpool||function(){{(callpool.q=callpool.q||[]).push(arguments)}};`}}
</Script>
<Script
  src="{src}"
  integrity="{integrity}"
  crossOrigin="anonymous"
  data-key="{site.public_key}"
  strategy="afterInteractive"
/>

// After a client-side re-render that redraws the number:  window.callpool("swap", element)"""
    return Snippet(
        tag=install_tag(server, site.public_key),
        nextjs=nextjs,
        src=src,
        integrity=integrity,
        site_key=site.public_key,
    )
