"""HTML forms → the services' input models, with one message per field when input is bad.

The dashboard checks nothing the REST API would accept differently: it parses the form into the
same pydantic models the API uses and adds only what a form needs (empty field = not given,
one rule per line) and the CSS-selector check the browser would otherwise be the first to do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import cssselect
from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from callpool.errors import Invalid

FieldErrors = dict[str, str]
Model = TypeVar("Model", bound=BaseModel)


class FormInvalid(Exception):
    """Some fields were wrong; ``errors`` maps each field to a message fit to show beside it."""

    def __init__(self, errors: FieldErrors) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


async def _posted_form(request: Request) -> FormData:
    return await request.form()  # parsed once per request: the CSRF check reads the same


# The posted form, read on the event loop, so that a handler taking it can be a plain ``def``:
# FastAPI runs those in its thread pool, where their database work cannot stall the loop.
PostedForm = Annotated[FormData, Depends(_posted_form)]


def text(form: Mapping[str, Any], name: str) -> str | None:
    """A text field's stripped value; an empty field means "not given"."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def lines(form: Mapping[str, Any], name: str) -> list[str]:
    return [line.strip() for line in (text(form, name) or "").splitlines() if line.strip()]


def checkbox(form: Mapping[str, Any], name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")


def check_selector(selector: str | None) -> str | None:
    """``ValueError`` if the browser's ``querySelectorAll`` would throw on it."""
    if selector is None:
        return None
    try:
        cssselect.parse(selector)
    except cssselect.SelectorError as error:
        raise ValueError(f"this is not a valid CSS selector ({error})") from None
    return selector


def build(model: type[Model], data: Mapping[str, Any], extra: FieldErrors | None = None) -> Model:
    """``model(**data)``, or ``FormInvalid`` with every field's message (plus ``extra``)."""
    errors: FieldErrors = dict(extra or {})
    try:
        built = model.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as error:
        for detail in error.errors():
            name = str(detail["loc"][0]) if detail["loc"] else "form"
            errors.setdefault(name, _message(detail))
        raise FormInvalid(errors) from None
    if errors:
        raise FormInvalid(errors)
    return built


# The API's messages name its fields; beside a form's field they use the form's words.
LABELS = {
    "original_number": "Business number",
    "swap_number": "Business number as written on the site",
    "overflow_number": "Overflow number",
    "utilization": "Utilization",
    "size": "Numbers",
}
_PHONE = re.compile(r"^(\w+) must be a valid phone number in E\.164")


def _message(detail: Any) -> str:
    message = str(detail["msg"]).removeprefix("Value error, ")
    if detail["type"] in ("int_parsing", "float_parsing"):
        return "enter a number"
    if detail["type"] == "missing":
        return "this field is required"
    if detail["type"] == "greater_than_equal":
        return f"must be at least {detail['ctx']['ge']}"
    if message.startswith("utilization must be in (0, 1]"):
        return "Utilization must be more than 0 and at most 1, like 0.8"
    phone = _PHONE.match(message)
    if phone:
        label = LABELS.get(phone.group(1), "This")
        return f"{label} must be a phone number, like (512) 555-0123"
    if message.startswith("area_code "):
        typed = str(detail.get("input", ""))
        if typed.isdigit() and len(typed) == 3:  # 3 digits, but no area code starts with 0 or 1
            return f"There is no area code {typed}: area codes start with 2 to 9, like 512"
        return "An area code is 3 digits, like 512"
    field = message.split(" ", 1)[0]
    if field in LABELS:
        return LABELS[field] + message.removeprefix(field)
    return message


def from_invalid(error: Invalid) -> FormInvalid:
    """A service's ``Invalid`` shown beside its field (or above the form)."""
    return FormInvalid({error.field or "form": str(error)})
