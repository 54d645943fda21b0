from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator


def origin_of(url: str) -> str:
    """``https://Example.com:443/path`` → ``https://example.com``: what browsers send as Origin."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def clean_origins(values: list[str] | None) -> list[str] | None:
    return None if values is None else sorted({origin_of(value) for value in values})


def clean_region(value: str | None) -> str | None:
    if value is None:
        return None
    if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value!r} is not a region phone numbers are known for")
    return value.upper()


class SiteCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    allowed_origins: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Origins where the snippet runs; only they may call the visit API",
    )
    region: str = Field(default="US", description="ISO country code used to format numbers")

    _origins = field_validator("allowed_origins")(clean_origins)
    _region = field_validator("region")(clean_region)


class SiteUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    allowed_origins: list[str] | None = Field(default=None, max_length=50)
    region: str | None = None

    _origins = field_validator("allowed_origins")(clean_origins)
    _region = field_validator("region")(clean_region)


class SiteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    public_key: str = Field(description="The site key the snippet sends; public by design")
    allowed_origins: list[str]
    region: str
    created_at: datetime


class InstallOut(BaseModel):
    tag: str = Field(description="The HTML to paste before </body>")
    src: str
    integrity: str = Field(description="Subresource Integrity hash of the script")
    site_key: str
