"""The dashboard: server-rendered pages for people, beside the REST API for programs."""

from fastapi import APIRouter

from callpool.dashboard import (
    account,
    api,
    assets,
    insights,
    integrations,
    leaks,
    marketing,
    setup,
    testcall,
)
from callpool.integrations.google_ads import api as google_ads_feed

router = APIRouter()
router.include_router(api.root)
router.include_router(assets.root)
router.include_router(api.router)
# Ahead of setup's generic tracker actions, whose paths these share.
router.include_router(leaks.router)
router.include_router(setup.router)
router.include_router(insights.router)
router.include_router(integrations.router)
router.include_router(marketing.router)
router.include_router(testcall.router)
router.include_router(account.router)
# The feed Google Ads fetches: public, its token is the secret (set up on the Ads page).
router.include_router(google_ads_feed.feed_router)
