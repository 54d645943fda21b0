"""What every ``/api/v1`` router shares: the error bodies it answers, documented as answered,
and the input types that keep any input out of the database's reach unless it can be stored.

The OpenAPI document is a contract that clients generate code from and that schemathesis checks
in the suite (``tests/api``): every status a route can answer is listed with its real body, and
every format the server checks is in the schema, so a schema-valid request is accepted.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from callpool.errors import NotFound

# PostgreSQL refuses NUL in text (SQLite would store it and cut it short in C strings): a NUL
# anywhere in input is refused at the schema, before any storage sees it.
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(pattern=NO_NUL)]

# Every id column is INTEGER: int4 on PostgreSQL, so no row has an id past 2^31 - 1 on either
# engine. A larger id (or 0) names nothing: 404, as for any missing row, before a query would
# fail on the driver's range check.
MAX_ID = 2**31 - 1
# Plain integers that are stored (priorities, thresholds) stay within the same column range.
MAX_INT = MAX_ID


def _existing(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise NotFound("not found")
    return value


Id = Annotated[
    int,
    AfterValidator(_existing),
    Field(json_schema_extra={"minimum": 1, "maximum": MAX_ID}),
]


class Problem(BaseModel):
    """An error: a message fit to show, and for refused input the field it is about."""

    detail: str
    field: str | None = Field(default=None, description="The input that was refused")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: body, query or path, then the field")
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationProblem(BaseModel):
    """Input that does not match the schema (FastAPI's validation answer)."""

    detail: list[FieldError]


def _response(description: str, model: Any) -> dict[str, Any]:
    return {"description": description, "model": model}


# Unions of these dicts go into a router's or a route's ``responses``.
UNREADABLE: dict[int | str, dict[str, Any]] = {
    400: _response("The body is not JSON (FastAPI cannot parse it)", Problem)
}
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: _response("No API key, or a revoked or unknown one", Problem)
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: _response(
        "Input refused, nothing changed: the schema's checks (a list, as FastAPI gives it) or "
        "the server's own ({detail, field})",
        ValidationProblem | Problem,
    )
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: _response("No such object in this account", Problem)
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: _response("The request clashes with the current state; nothing changed", Problem)
}
PROVIDER_FAILED: dict[int | str, dict[str, Any]] = {
    502: _response("The telephony provider failed; nothing changed", Problem)
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: _response(
        "The database is not answering; nothing changed. Retry after Retry-After", Problem
    )
}
# What every route of the REST API can answer.
API: dict[int | str, dict[str, Any]] = {**UNREADABLE, **UNAUTHORIZED, **INVALID, **UNAVAILABLE}
