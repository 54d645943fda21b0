from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callpool.models.base import Base


class Site(Base):
    """A website that embeds the snippet, identified in public by ``public_key``."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[str] = mapped_column(String(40), unique=True)
    # Origins allowed to call the visit API, e.g. ["https://example.com"]; CORS is limited to them.
    allowed_origins: Mapped[list[Any]] = mapped_column(default=list)
    # ISO region used to format numbers the way the site's visitors write them ("US", "GB", …).
    region: Mapped[str] = mapped_column(String(2), default="US")
    created_at: Mapped[datetime]
    # Deleted sites keep their sessions, calls and report figures; they leave every list.
    deleted_at: Mapped[datetime | None]


class RefusedOrigin(Base):
    """An address whose pages ask for numbers but is not among the site's origins: the most
    common install mistake, listed on the verify step. One row per (site, origin), written at
    most once a minute per process (``callpool.sites.refusals``), so a busy page costs little."""

    __tablename__ = "refused_origins"
    __table_args__ = (UniqueConstraint("site_id", "origin"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))  # sites are soft-deleted
    origin: Mapped[str] = mapped_column(String(300))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
