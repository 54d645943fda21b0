"""Ad and analytics platforms fed with calls: Google Ads (per account), GA4 (per site)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from callpool.models.base import Base


class GoogleAdsFeed(Base):
    """An account's offline click conversions, served as Google's CSV template at a secret URL
    (``/feeds/google-ads/<token>.csv``) that Google Ads fetches on a schedule."""

    __tablename__ = "google_ads_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), unique=True
    )
    # The conversion action's name in Google Ads, exactly as spelled there.
    conversion_name: Mapped[str] = mapped_column(String(100))
    # Which calls count: answered ones of at least this many seconds (a wrong number or a
    # hang-up during the greeting is not a lead), optionally only a caller's first call.
    min_duration: Mapped[int] = mapped_column(default=60)
    first_time_only: Mapped[bool] = mapped_column(default=False)
    value: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # The URL's secret: whoever knows it reads the account's click ids and call times.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    last_fetched_at: Mapped[datetime | None]  # shown: "Google fetched it at …"
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Ga4Stream(Base):
    """A site's GA4 web data stream: calls attributed to a visit are sent to it as events
    through the Measurement Protocol (``callpool.integrations.ga4``)."""

    __tablename__ = "ga4_streams"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # No cascade: sites are soft-deleted.
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), unique=True)
    measurement_id: Mapped[str] = mapped_column(String(30))  # G-XXXXXXX
    api_secret: Mapped[str] = mapped_column(String(100))
    event_name: Mapped[str] = mapped_column(String(40), default="phone_call")
    region: Mapped[str] = mapped_column(String(10), default="global")  # global | eu
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
