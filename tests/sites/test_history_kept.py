"""Deleting keeps history: nothing in the schema deletes rows when a site, pool or tracker goes.

Sites and pools are soft-deleted and trackers released, so no such row is ever deleted; this
keeps a later change from quietly adding a cascade that would erase calls, sessions, leases or
report figures if one were.
"""

from __future__ import annotations

from callpool.models import Base

KEPT_BY_SOFT_DELETE = {"sites", "pools", "trackers"}


def test_no_foreign_key_cascades_or_nulls_from_sites_pools_or_trackers() -> None:
    offending = [
        f"{table.name}.{key.parent.name} → {key.column.table.name} ON DELETE {key.ondelete}"
        for table in Base.metadata.sorted_tables
        for key in table.foreign_keys
        if key.column.table.name in KEPT_BY_SOFT_DELETE and key.ondelete is not None
    ]
    assert offending == []
