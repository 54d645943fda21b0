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
