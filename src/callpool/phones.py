"""Phone numbers as people read them."""

from __future__ import annotations

import phonenumbers


def display(number: str, region: str) -> str:
    """``+15125550100`` → ``(512) 555-0100`` where ``region`` is the number's own country (the
    way the site's visitors write it), the international form elsewhere; unparseable: as is."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return number
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if phonenumbers.region_code_for_number(parsed) == region
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return str(phonenumbers.format_number(parsed, style))
