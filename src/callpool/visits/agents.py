"""What the user agent tells: a crawler, or a desktop, mobile or tablet browser."""

from __future__ import annotations

from functools import lru_cache

from crawlerdetect import CrawlerDetect

BOT, DESKTOP, MOBILE, TABLET = "bot", "desktop", "mobile", "tablet"

_crawlers = CrawlerDetect()


@lru_cache(maxsize=4096)
def device_of(user_agent: str) -> str:
    """``bot``, ``tablet``, ``mobile`` or ``desktop``; cached, as few distinct agents recur.

    Every browser sends a user agent, so an empty one is a script: treated as a bot. iPads
    since iPadOS 13 present themselves as desktop Safari and are counted as desktops.
    """
    if not user_agent.strip() or _crawlers.is_crawler(user_agent):
        return BOT
    if "iPad" in user_agent or "Tablet" in user_agent or "Kindle" in user_agent:
        return TABLET
    if "Android" in user_agent and "Mobile" not in user_agent:
        return TABLET  # Android tablets leave "Mobile" out, by Google's own guidance
    if any(mark in user_agent for mark in ("Mobi", "iPhone", "iPod", "Android", "BlackBerry")):
        return MOBILE
    return DESKTOP
