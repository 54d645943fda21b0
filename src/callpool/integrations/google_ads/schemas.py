"""What the Google Ads feed API takes and answers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


# A number in the schema (a JSON number or a numeric string is taken), rounded to cents as the
# dashboard's form does; never a float in storage.
Money = Annotated[
    Decimal,
    Field(ge=0, lt=10**10, allow_inf_nan=False),
    WithJsonSchema({"type": "number", "minimum": 0, "exclusiveMaximum": 10**10}),
    AfterValidator(_cents),
]
# One line of text with something in it (the name goes into a CSV cell Google matches).
CONVERSION_NAME = r"^[^\x00\r\n]*\S[^\x00\r\n]*$"


class GoogleAdsFeedIn(BaseModel):
    """Which calls the feed holds, and as which conversion."""

    conversion_name: str = Field(
        min_length=1,
        max_length=100,
        pattern=CONVERSION_NAME,
        description="The conversion action's name, exactly as in Google Ads (Goals → "
        "Conversions; its source: import from clicks)",
        examples=["Phone call"],
    )
    min_duration: int = Field(
        default=60,
        ge=0,
        le=86_400,
        description="Seconds an answered call must last to count (shorter ones are mostly "
        "wrong numbers and hang-ups at the greeting)",
    )
    first_time_only: bool = Field(
        default=False, description="Count a caller's first call only, not repeat callers"
    )
    value: Money = Field(default=Decimal(0), description="Per conversion, in cents' precision")
    currency: str = Field(default="USD", pattern=r"^[A-Za-z]{3}$", description="ISO 4217")
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA name (such as America/Chicago): the account's time zone, in which "
        "the file's times are written; omitted: unchanged",
    )


class GoogleAdsFeedOut(BaseModel):
    conversion_name: str
    min_duration: int
    first_time_only: bool
    value: Decimal
    currency: str
    time_zone: str = Field(description="The account's; the file's times are written in it")
    feed_url: str = Field(
        description="Secret: paste it into Google Ads (Goals → Uploads → Schedules → HTTPS)"
    )
    conversions_in_feed: int = Field(
        description="Qualifying calls of the last 90 days with a Google click id (gclid)"
    )
    braid_only_calls: int = Field(
        description="Qualifying calls with only gbraid / wbraid, which the file cannot carry"
    )
    updated_at: datetime
