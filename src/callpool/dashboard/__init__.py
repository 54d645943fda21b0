"""The dashboard: server-rendered pages for people, beside the REST API for programs."""

from fastapi import APIRouter

from callpool.dashboard import api, insights, integrations, setup

router = APIRouter()
router.include_router(api.root)
router.include_router(api.router)
router.include_router(setup.router)
router.include_router(insights.router)
router.include_router(integrations.router)
