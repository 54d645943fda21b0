from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from callpool.restapi import Text

# What ``origin_of`` accepts, as a pattern in the API's schema (it accepts a little more: any
# case of the scheme, spaces around). ``origin_of`` checks it, to say what is wrong in words.
ORIGIN_PATTERN = (
    r"^https?://[A-Za-z0-9.-]+"
    r"(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    r"(/[^\x00]*)?$"
)
Origin = Annotated[
    str, StringConstraints(max_length=2000), Field(json_schema_extra={"pattern": ORIGIN_PATTERN})
]
# Any case is accepted; the schema lists the canonical one.
Region = Annotated[str, Field(json_schema_extra={"enum": sorted(phonenumbers.SUPPORTED_REGIONS)})]
HOSTNAME = re.compile(r"[a-z0-9.-]+")


def origin_of(url: str) -> str:
    """``https://Example.com:443/path`` → ``https://example.com``: what browsers send as Origin."""
    parts = urlsplit(url.strip())
    # Browsers send a punycode host name: anything else (a NUL, a space) is no origin.
    if parts.scheme not in ("http", "https") or not HOSTNAME.fullmatch(parts.hostname or ""):
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
    name: Text = Field(min_length=1, max_length=200)
    allowed_origins: list[Origin] = Field(
        default_factory=list,
        max_length=50,
        description="Origins where the snippet runs; only they may call the visit API. "
        "A URL is cut to its origin: https://www.example.com/contact → https://www.example.com",
    )
    region: Region = Field(default="US", description="ISO country code used to format numbers")

    _origins = field_validator("allowed_origins")(clean_origins)
    _region = field_validator("region")(clean_region)


class SiteUpdate(BaseModel):
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    allowed_origins: list[Origin] | None = Field(default=None, max_length=50)
    region: Region | None = None

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
