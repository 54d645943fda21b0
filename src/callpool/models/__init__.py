"""Every table, importable from one place (Alembic reads ``Base.metadata`` from here)."""

from callpool.models.account import (
    Account,
    ApiKey,
    LoginFailures,
    Membership,
    User,
    UserSession,
)
from callpool.models.base import Base, UTCDateTime
from callpool.models.call import Call
from callpool.models.install import InstallSetting
from callpool.models.integration import (
    DeliveryAttempt,
    EmailPreference,
    OutboxCursor,
    OutboxMessage,
    WebhookEndpoint,
)
from callpool.models.marketing import Ga4Stream, GoogleAdsFeed
from callpool.models.pool import Pool, PoolEvent
from callpool.models.rollup import DailyCallStats, DailySessionStats, HourlyPoolStats, RolledDay
from callpool.models.site import RefusedOrigin, Site
from callpool.models.tracker import Tracker, TrackerAssignment
from callpool.models.visit import Lease, Pageview, SessionEvent, Visitor, VisitSession

__all__ = [
    "Account",
    "ApiKey",
    "Base",
    "Call",
    "DailyCallStats",
    "DailySessionStats",
    "DeliveryAttempt",
    "EmailPreference",
    "Ga4Stream",
    "GoogleAdsFeed",
    "HourlyPoolStats",
    "InstallSetting",
    "Lease",
    "LoginFailures",
    "Membership",
    "OutboxCursor",
    "OutboxMessage",
    "Pageview",
    "Pool",
    "PoolEvent",
    "RefusedOrigin",
    "RolledDay",
    "SessionEvent",
    "Site",
    "Tracker",
    "TrackerAssignment",
    "UTCDateTime",
    "User",
    "UserSession",
    "VisitSession",
    "Visitor",
    "WebhookEndpoint",
]
