"""Where a visit came from: source / medium / campaign, the way analytics tools tell it.

In order of precedence:

1. UTM parameters of the landing URL (``utm_source``, ``utm_medium``, ``utm_campaign``,
   ``utm_term``, ``utm_content``). A missing ``utm_source`` or ``utm_medium`` is filled from
   what the click id or referrer say (step 2 or 3) when that names the same source, else it is
   ``(not set)``, as in Google Analytics.
2. Click ids: ``gclid`` / ``gbraid`` / ``wbraid`` → google / cpc, ``msclkid`` → bing / cpc,
   ``ttclid`` → tiktok / cpc. ``fbclid`` → facebook / social: Facebook appends it to every
   outbound link, organic posts and shares included, so alone it does not prove a paid click
   (Meta ads that should count as paid carry UTM parameters, which win). A referrer from
   Instagram or Messenger names that site instead of facebook.
3. The referrer: a search engine → <engine> / organic, a social site → <site> / social, the
   site's own hosts → (direct) / (none) (an internal navigation, not a source), any other host
   → <host> / referral.
4. Nothing → (direct) / (none).

Sources and mediums are lower-cased so that visits group the way operators expect (automated
pools count visits per source / medium); campaign, term and content are kept as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

from callpool.models.visit import CLICK_IDS

DIRECT, NONE, NOT_SET = "(direct)", "(none)", "(not set)"
PAID_CLICK_IDS = {
    "gclid": "google",
    "gbraid": "google",
    "wbraid": "google",
    "msclkid": "bing",
    "ttclid": "tiktok",
}
SOURCE_LENGTH, CAMPAIGN_LENGTH = 200, 300

# Hosts are compared without "www."; an entry matches the host and its subdomains.
SEARCH_ENGINES = {
    "bing.com": "bing",
    "search.yahoo.com": "yahoo",
    "search.yahoo.co.jp": "yahoo",
    "duckduckgo.com": "duckduckgo",
    "baidu.com": "baidu",
    "ecosia.org": "ecosia",
    "ask.com": "ask",
    "search.aol.com": "aol",
    "search.naver.com": "naver",
    "search.seznam.cz": "seznam",
    "startpage.com": "startpage",
    "qwant.com": "qwant",
    "search.brave.com": "brave",
    "kagi.com": "kagi",
    "ya.ru": "yandex",
    # Android's Google app sends android-app://com.google.android.googlequicksearchbox/
    "com.google.android.googlequicksearchbox": "google",
}
# Google and Yandex search live on every country domain (google.co.uk, google.com.au, yandex.ru).
SEARCH_PATTERNS = (
    (re.compile(r"google\.(?:com?\.)?[a-z]{2,3}"), "google"),
    (re.compile(r"yandex\.(?:com?\.)?[a-z]{2,3}"), "yandex"),
)
SOCIAL_SITES = {
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "fb.me": "facebook",
    "messenger.com": "messenger",
    "instagram.com": "instagram",
    "threads.net": "threads",
    "twitter.com": "twitter",
    "x.com": "twitter",
    "t.co": "twitter",
    "linkedin.com": "linkedin",
    "lnkd.in": "linkedin",
    "pinterest.com": "pinterest",
    "pin.it": "pinterest",
    "reddit.com": "reddit",
    "youtube.com": "youtube",
    "youtu.be": "youtube",
    "tiktok.com": "tiktok",
    "snapchat.com": "snapchat",
    "nextdoor.com": "nextdoor",
    "tumblr.com": "tumblr",
    "quora.com": "quora",
    "vk.com": "vk",
    "whatsapp.com": "whatsapp",
    "wa.me": "whatsapp",
}


@dataclass(frozen=True, slots=True)
class Attribution:
    source: str
    medium: str
    campaign: str | None = None
    term: str | None = None
    content: str | None = None
    click_ids: dict[str, str] = field(default_factory=dict)


def classify(landing_url: str, referrer: str | None, own_hosts: frozenset[str]) -> Attribution:
    """The attribution of a session that landed on ``landing_url`` from ``referrer``.

    ``own_hosts`` are the site's hosts (without ``www.``): a referrer from them is internal.
    """
    params = _query(landing_url)
    click_ids = {name: params[name][:CAMPAIGN_LENGTH] for name in CLICK_IDS if params.get(name)}
    source, medium = _from_click_ids(click_ids, referrer, own_hosts) or _from_referrer(
        referrer, own_hosts
    )
    utm_source, utm_medium = _utm(params, "utm_source"), _utm(params, "utm_medium")
    if utm_source or utm_medium:
        inferred = source if source != DIRECT else NOT_SET
        utm_source = (utm_source or inferred).lower()[:SOURCE_LENGTH]
        same_source = utm_source == source
        utm_medium = (utm_medium or (medium if same_source else NOT_SET)).lower()[:SOURCE_LENGTH]
        source, medium = utm_source, utm_medium
    return Attribution(
        source=source,
        medium=medium,
        campaign=_utm(params, "utm_campaign"),
        term=_utm(params, "utm_term"),
        content=_utm(params, "utm_content"),
        click_ids=click_ids,
    )


@lru_cache(maxsize=4096)  # referrers recur: a few search engines and social sites
def host_of(url: str | None) -> str | None:
    """``https://WWW.Example.com:8443/x`` → ``example.com``; ``None`` if there is no host."""
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.removeprefix("www.")


def _query(url: str) -> dict[str, str]:
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    # The first value of each parameter, as analytics tools read it.
    return {name: values[0] for name, values in parse_qs(query).items() if values[0].strip()}


def _utm(params: dict[str, str], name: str) -> str | None:
    value = params.get(name, "").strip()
    return value[:CAMPAIGN_LENGTH] or None


def _from_click_ids(
    click_ids: dict[str, str], referrer: str | None, own_hosts: frozenset[str]
) -> tuple[str, str] | None:
    for name, engine in PAID_CLICK_IDS.items():
        if name in click_ids:
            return engine, "cpc"
    if "fbclid" in click_ids:
        source, medium = _from_referrer(referrer, own_hosts)
        return (source, medium) if medium == "social" else ("facebook", "social")
    return None


def _from_referrer(referrer: str | None, own_hosts: frozenset[str]) -> tuple[str, str]:
    host = host_of(referrer)
    if host is None or host in own_hosts:
        return DIRECT, NONE
    return _classify_host(host)


@lru_cache(maxsize=4096)
def _classify_host(host: str) -> tuple[str, str]:
    engine = _lookup(host, SEARCH_ENGINES)
    if engine is None:
        engine = next((name for regex, name in SEARCH_PATTERNS if regex.fullmatch(host)), None)
    if engine is not None:
        return engine, "organic"
    social = _lookup(host, SOCIAL_SITES)
    if social is not None:
        return social, "social"
    return host[:SOURCE_LENGTH], "referral"


def _lookup(host: str, table: dict[str, str]) -> str | None:
    """The entry for ``host`` or the nearest parent domain listed in ``table``."""
    labels = host.split(".")
    for start in range(len(labels) - 1):
        name = table.get(".".join(labels[start:]))
        if name is not None:
            return name
    return table.get(host)
