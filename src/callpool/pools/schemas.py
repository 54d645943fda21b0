"""What the pools API accepts and returns."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from callpool.models.pool import OverflowPolicy, PoolKind
from callpool.models.tracker import TrackerStatus
from callpool.pools.rules import MAX_PATTERN_LENGTH, MAX_PATTERNS, RULE_KEYS, validate_rules
from callpool.restapi import MAX_ID, MAX_INT, Text

MAX_POOL_SIZE = 500  # well past any real site; a typo of 50000 must not buy 50000 numbers
MAX_ADD = 100

# The schema's side of the checks below, so that what it allows is accepted. A phone number
# is E.164 *and* a number libphonenumber knows: ``format: e164`` says the second part.
PHONE: dict[str, Any] = {"pattern": r"^\+[1-9][0-9]{6,14}$", "format": "e164"}
AREA_CODE = r"^[2-9][0-9][0-9]$"
OTHERS = r"^(original|pool:[1-9][0-9]{0,8})$"  # a pool id of at most 9 digits is an INTEGER
_PATTERNS = {"type": "array", "minItems": 1, "maxItems": MAX_PATTERNS}
RULES: dict[str, Any] = {
    "additionalProperties": False,
    "properties": {
        "paths": {
            **_PATTERNS,
            "items": {
                "type": "string",
                "maxLength": MAX_PATTERN_LENGTH,
                "pattern": r"^[/*][^\x00]*$",
            },
        },
        "sources": {
            **_PATTERNS,
            "items": {
                "type": "string",
                "maxLength": MAX_PATTERN_LENGTH,
                "pattern": r"^[^\x00]*[!-~][^\x00]*$",
            },
        },
    },
    "description": "Which visits the pool serves: "
    f"{', '.join(RULE_KEYS)}; see the pools FAQ. Empty: every visit.",
}
Phone = Annotated[str, Field(json_schema_extra=PHONE)]


def to_e164(value: str, field: str) -> str:
    """The number in E.164, or a ``ValueError`` naming ``field``."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{field} must be a valid phone number in E.164, like +15125550123")
    formatted: str = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return formatted


def others_pool_id(others: str) -> int | None:
    """The API's ``others`` (text matching ``OTHERS``) as stored: the session pool's id, or
    None for "original". The API keeps its documented text, so clients need no change; the
    database keeps a foreign key, so nothing else parses it."""
    return None if others == "original" else int(others.removeprefix("pool:"))


def others_text(pool_id: int | None) -> str:
    return "original" if pool_id is None else f"pool:{pool_id}"


class _PoolFields(BaseModel):
    """Checks shared by create and update; each names its field in the message."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("original_number", "swap_number", "overflow_number", check_fields=False)
    @classmethod
    def _phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else to_e164(value, str(info.field_name))

    @field_validator("area_code", check_fields=False)
    @classmethod
    def _area_code(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[2-9]\d\d", value):
            raise ValueError("area_code must be 3 digits, like 512 (or set toll_free)")
        return value

    @field_validator("utilization", check_fields=False)
    @classmethod
    def _utilization(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= 1:
            raise ValueError("utilization must be in (0, 1], like 0.8")
        return value

    @field_validator("others", check_fields=False)
    @classmethod
    def _others(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(OTHERS, value):
            raise ValueError('others must be "original" or "pool:<session pool id>"')
        return value

    def columns(self, *, exclude_unset: bool = False) -> dict[str, Any]:
        """The fields as ``Pool`` columns: ``others`` becomes ``others_pool_id`` (a null
        ``others`` stays, for the update's "cannot be null")."""
        values = self.model_dump(exclude_unset=exclude_unset)
        if values.get("others") is not None:
            values["others_pool_id"] = others_pool_id(values.pop("others"))
        return values

    @field_validator("rules", check_fields=False)
    @classmethod
    def _rules(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else validate_rules(value)


MAX_PER_ADDRESS = (
    "Session pools: numbers one client address may hold at once; its further sessions share "
    "its own number (with several app processes, one more for each further process it "
    "reaches). Raise it for offices behind one address; 0: no limit."
)


class PoolCreate(_PoolFields):
    site_id: int = Field(ge=1, le=MAX_ID)
    name: Text = Field(min_length=1, max_length=200)
    kind: PoolKind = PoolKind.SESSION
    original_number: Phone
    area_code: str | None = Field(default=None, json_schema_extra={"pattern": AREA_CODE})
    toll_free: bool = False
    size: int = Field(ge=1, le=MAX_POOL_SIZE)
    utilization: float | None = Field(
        default=None,
        description="Automated pools only: share of the size given to top sources.",
        json_schema_extra={"exclusiveMinimum": 0, "maximum": 1},
    )
    min_sources: int = Field(default=1, ge=0, le=MAX_POOL_SIZE)
    visit_threshold: int = Field(default=100, ge=1, le=MAX_INT)
    window_days: int = Field(default=30, ge=1, le=365)
    timeline_days: int = Field(default=30, ge=0, le=365)
    lease_minutes: int = Field(default=30, ge=1, le=24 * 60)
    overflow_policy: OverflowPolicy = OverflowPolicy.REUSE
    overflow_number: Phone | None = None
    max_leases_per_address: int = Field(
        default=3, ge=0, le=MAX_POOL_SIZE, description=MAX_PER_ADDRESS
    )
    others: str = Field(default="original", json_schema_extra={"pattern": OTHERS})
    record_calls: bool = False
    whisper: Text | None = Field(default=None, max_length=300)
    swap_number: Phone | None = None
    swap_selector: Text | None = Field(default=None, max_length=500)
    rules: dict[str, Any] = Field(default_factory=dict, json_schema_extra=RULES)
    priority: int = Field(default=0, ge=-MAX_INT, le=MAX_INT)


class PoolUpdate(_PoolFields):
    """Only the fields sent change; kind and site are fixed at creation."""

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    original_number: Phone | None = None
    area_code: str | None = Field(default=None, json_schema_extra={"pattern": AREA_CODE})
    toll_free: bool | None = None
    size: int | None = Field(default=None, ge=1, le=MAX_POOL_SIZE)
    utilization: float | None = Field(
        default=None, json_schema_extra={"exclusiveMinimum": 0, "maximum": 1}
    )
    min_sources: int | None = Field(default=None, ge=0, le=MAX_POOL_SIZE)
    visit_threshold: int | None = Field(default=None, ge=1, le=MAX_INT)
    window_days: int | None = Field(default=None, ge=1, le=365)
    timeline_days: int | None = Field(default=None, ge=0, le=365)
    lease_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    overflow_policy: OverflowPolicy | None = None
    overflow_number: Phone | None = None
    max_leases_per_address: int | None = Field(
        default=None, ge=0, le=MAX_POOL_SIZE, description=MAX_PER_ADDRESS
    )
    others: str | None = Field(default=None, json_schema_extra={"pattern": OTHERS})
    record_calls: bool | None = None
    whisper: Text | None = Field(default=None, max_length=300)
    swap_number: Phone | None = None
    swap_selector: Text | None = Field(default=None, max_length=500)
    rules: dict[str, Any] | None = Field(default=None, json_schema_extra=RULES)
    priority: int | None = Field(default=None, ge=-MAX_INT, le=MAX_INT)


class TrackerCounts(BaseModel):
    available: int = 0
    active: int = 0
    flagged: int = 0
    provisioning: int = Field(
        default=0, description="Being bought from the carrier (not in service yet)."
    )
    releasing: int = Field(
        default=0,
        description="Out of service, being given back to the carrier (retried until it is).",
    )
    retiring: int = Field(
        default=0,
        description="Retired by the operator: still forwarded, never shown to a visitor, "
        "released after a quiet period.",
    )


class PoolOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: int
    site_id: int
    name: str
    kind: PoolKind
    original_number: str
    area_code: str | None
    toll_free: bool
    size: int
    utilization: float | None
    min_sources: int
    visit_threshold: int
    window_days: int
    timeline_days: int
    lease_minutes: int
    overflow_policy: OverflowPolicy
    overflow_number: str | None
    max_leases_per_address: int
    # Read from the pool's foreign key, shown as the API's text.
    others: str = Field(validation_alias="others_pool_id")
    record_calls: bool
    whisper: str | None
    swap_number: str | None
    swap_selector: str | None
    rules: dict[str, Any]
    priority: int
    created_at: datetime
    updated_at: datetime
    rebalanced_at: datetime | None
    trackers: TrackerCounts = Field(default_factory=TrackerCounts)

    @field_validator("others", mode="before")
    @classmethod
    def _others_text(cls, value: int | str | None) -> str:
        return value if isinstance(value, str) else others_text(value)


class TrackerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    pool_id: int
    number: str
    provider: str
    status: TrackerStatus
    original_number: str | None
    source: str | None
    medium: str | None
    created_at: datetime
    activated_at: datetime | None
    dropped_at: datetime | None
    released_at: datetime | None
    retired_at: datetime | None = Field(
        default=None, description="Retiring: when the operator retired it."
    )
    quiet_days: int | None = Field(
        default=None,
        description="Retiring: released once it has had no call for this many days.",
    )
    last_error: str | None = Field(
        default=None, description="The carrier's last failure while buying or releasing it."
    )


class AddTrackers(BaseModel):
    """Either buy ``count`` more numbers in the pool's area code, or buy one given ``number``."""

    model_config = ConfigDict(extra="forbid")

    count: int | None = Field(default=None, ge=1, le=MAX_ADD)
    number: Phone | None = None

    @field_validator("number")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else to_e164(value, "number")


class SourceMedium(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Text = Field(min_length=1, max_length=200)
    medium: Text = Field(min_length=1, max_length=200)


class RebalanceOut(BaseModel):
    created: int = 0
    flagged: int = 0
    unflagged: int = 0
    activated: int = 0
    deactivated: int = 0
    released: int = 0


class ReassignOut(BaseModel):
    reassigned: int


class SourceDiagnosis(BaseModel):
    source: str
    medium: str
    visits: int
    rank: int
    in_top_list: bool
    tracker_id: int | None
    tracker_number: str | None
    reason: str


class Diagnostics(BaseModel):
    """The answer to "why is my pool not activating the right number of trackers?"."""

    pool_id: int
    kind: PoolKind
    size: int
    utilization: float | None
    top_list_length: int
    visit_threshold: int
    window_days: int
    trackers: TrackerCounts
    summary: str
    sources: list[SourceDiagnosis]


# A quiet period long enough for a printed number's callers to stop, short enough to end.
DEFAULT_QUIET_DAYS = 30
MAX_QUIET_DAYS = 365


class RetireTracker(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quiet_days: int = Field(
        default=DEFAULT_QUIET_DAYS,
        ge=1,
        le=MAX_QUIET_DAYS,
        description="Release the number once it has had no call for this many days.",
    )


class MoveToManual(BaseModel):
    """Where a session-pool number goes as a fixed source: an existing manual pool of the
    same site (``pool_id``), or a new one created on the spot (``new_pool_name``)."""

    model_config = ConfigDict(extra="forbid")

    pool_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="A manual pool of the same site; leave out to create a new one.",
    )
    new_pool_name: Text = Field(
        default="Offline",
        min_length=1,
        max_length=200,
        description="The new manual pool's name, when no pool_id is given.",
    )
    source: Text = Field(default="offline", min_length=1, max_length=200)
    medium: Text = Field(default="print", min_length=1, max_length=200)


class LeakActionOut(BaseModel):
    """The number acted on, and the number bought in its place for the session pool: null
    if none was needed (or the carrier refused it); ``provisioning`` while the carrier is
    slow or failing (the worker finishes the purchase)."""

    tracker: TrackerOut
    replacement: TrackerOut | None
