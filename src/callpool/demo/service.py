"""What the demo site shows: the demo site's key and its business number in several forms."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from callpool.accounts.repository import scoped
from callpool.accounts.service import first_account
from callpool.db import Database
from callpool.models import Pool, Site


@dataclass(frozen=True)
class Business:
    site_key: str
    number: str  # E.164: the number the snippet swaps
    forms: dict[str, str]  # the same number written the ways real sites write it


def demo_business(database: Database) -> Business | None:
    """The first site of the first account and its first pool's swap number (what
    ``callpool demo`` seeds); ``None`` until it has been seeded."""
    with database.reader() as db:
        return _business(db)


def _business(db: Session) -> Business | None:
    account = first_account(db)
    if account is None:
        return None
    site = db.scalar(scoped(Site, account.id).order_by(Site.id).limit(1))
    if site is None:
        return None
    number = db.scalar(
        select(Pool.swap_number)
        .where(Pool.site_id == site.id, Pool.deleted_at.is_(None), Pool.swap_number.is_not(None))
        .order_by(Pool.id)
        .limit(1)
    )
    if number is None:
        return None
    return Business(site_key=site.public_key, number=number, forms=written_forms(number))


def written_forms(e164: str) -> dict[str, str]:
    parsed = phonenumbers.parse(e164)
    fmt = phonenumbers.PhoneNumberFormat
    national = phonenumbers.format_number(parsed, fmt.NATIONAL)
    forms = {
        "national": national,
        "international": phonenumbers.format_number(parsed, fmt.INTERNATIONAL),
        "e164": e164,
    }
    nsn = phonenumbers.national_significant_number(parsed)
    if parsed.country_code == 1 and len(nsn) == 10:
        area, exchange, line = nsn[:3], nsn[3:6], nsn[6:]
        forms |= {
            "dashed": f"{area}-{exchange}-{line}",
            "dotted": f"{area}.{exchange}.{line}",
            "one_dashed": f"1-{area}-{exchange}-{line}",
            "split_head": f"({area})",
            "split_tail": f"{exchange}-{line}",
        }
    else:
        head, _, tail = national.partition(" ")
        forms |= {
            "dashed": national.replace(" ", "-"),
            "dotted": national.replace(" ", "."),
            "one_dashed": forms["international"].replace(" ", "-"),
            "split_head": head,
            "split_tail": tail,
        }
    return forms
