from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from callpool.restapi import Text


class ApiKeyCreate(BaseModel):
    name: Text = Field(min_length=1, max_length=200)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


# The account's accuracy target, as a share of calls: below half, pool-size advice would
# accept a coin toss; 99.9 % is as fine as a month's simulated calls can tell apart.
MIN_TARGET, MAX_TARGET = 0.5, 0.999


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    time_zone: str = Field(
        description="IANA name: days in reports and times in the dashboard follow it"
    )
    accuracy_target: float = Field(
        description="Share of calls that pool-size advice aims to attribute to the right "
        "session, with no other candidate"
    )
    created_at: datetime


class AccountUpdate(BaseModel):
    """The settings to change; those left out (or null) stay as they are."""

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    time_zone: Text | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="An IANA name this server's zone database has, like America/Chicago",
    )
    accuracy_target: float | None = Field(
        default=None,
        ge=MIN_TARGET,
        le=MAX_TARGET,
        description="A share of calls, 0.5 to 0.999: pool-size advice is simulated again for it",
    )
