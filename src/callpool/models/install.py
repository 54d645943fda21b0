"""Facts about this install rather than any account: a small key/value table."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from callpool.models.base import Base


class InstallSetting(Base):
    """One fact the install remembers between starts (e.g. the public URL its numbers' webhooks
    point at). Not a setting an operator edits: those are CALLPOOL_* variables."""

    __tablename__ = "install_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(2000))
