"""The caller's line type: read from Twilio's ``AddOns`` parameter (signed webhooks), carried
through the spool (older entries without it still replay) into ``calls.caller_line_type``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callpool.calls import spool
from callpool.calls.service import find_route, replay_spool, take_call
from callpool.db import Database
from callpool.models import Site
from callpool.settings import Settings
from callpool.telephony.base import InboundCall
from callpool.telephony.sandbox.simulate import voice_request
from callpool.telephony.twilio.wire import line_type_of
from tests.calls.conftest import CALLER, Factory, calls_in, post_webhook, settled, voice_params

VOICE = "/webhooks/twilio/voice"


def addons(**results: Any) -> str:
    """An ``AddOns`` document as Twilio sends it: one result per enabled Add-on."""
    return json.dumps({"status": "successful", "message": None, "code": None, "results": results})


def successful(result: Any) -> dict[str, Any]:
    return {"request_sid": "XR1", "status": "successful", "message": None, "result": result}


LOOKUP_V2 = addons(lookup=successful({"line_type_intelligence": {"type": "fixedVoip"}}))


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (addons(lookup=successful({"line_type_intelligence": {"type": "landline"}})), "landline"),
        (LOOKUP_V2, "voip"),
        (addons(carrier=successful({"carrier": {"type": "mobile", "name": "T-Mobile"}})), "mobile"),
        (addons(scout=successful({"line_type": "voip", "ported": True})), "voip"),
        # A failed Add-on first, a working one after it.
        (
            addons(
                broken={"status": "failed", "message": "timeout", "result": {}},
                lookup=successful({"line_type_intelligence": {"type": "mobile"}}),
            ),
            "mobile",
        ),
        # Types that say nothing of the caller's device, and shapes we do not know.
        (addons(lookup=successful({"line_type_intelligence": {"type": "nonFixedVoip"}})), None),
        (addons(lookup=successful({"line_type_intelligence": {"type": "tollFree"}})), None),
        (addons(lookup=successful({"line_type_intelligence": {"type": 7}})), None),
        (addons(lookup=successful(["mobile"])), None),
        (addons(lookup="mobile"), None),
        (json.dumps({"status": "successful", "results": ["mobile"]}), None),
        (json.dumps(["mobile"]), None),
        ("{not json", None),
        ("", None),
        (None, None),
    ],
)
def test_the_line_type_is_read_from_any_lookup_add_on_and_anything_else_is_none(
    document: str | None, expected: str | None
) -> None:
    assert line_type_of(document) == expected


def test_a_signed_call_with_a_line_type_add_on_stores_the_line_type(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    auth: dict[str, str],
) -> None:
    tracker = factory.tracker(factory.pool(site))

    answer = post_webhook(
        client, settings, VOICE, voice_params(tracker.number) | {"AddOns": LOOKUP_V2}
    )

    assert "<Dial" in answer.text
    [call] = calls_in(database)
    assert call.caller_line_type == "voip"
    detail = client.get(f"/api/v1/calls/{call.id}", headers=auth).json()
    assert detail["caller_line_type"] == "voip"


@pytest.mark.parametrize("document", ["{not json", '{"results": "x"}', "null", "[1, 2]"])
def test_malformed_add_ons_never_stop_a_call(
    client: TestClient,
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    document: str,
) -> None:
    tracker = factory.tracker(factory.pool(site))

    answer = post_webhook(
        client, settings, VOICE, voice_params(tracker.number) | {"AddOns": document}
    )

    assert answer.status_code == 200
    assert "<Dial" in answer.text
    [call] = calls_in(database)
    assert call.caller_line_type is None


def test_the_spool_carries_the_line_type_and_reads_entries_written_before_it(
    settings: Settings, database: Database, factory: Factory, site: Site
) -> None:
    tracker = factory.tracker(factory.pool(site))
    route = find_route(database, settings, tracker.number)
    assert route is not None
    journal = spool.Journal(settings.call_spool_dir)  # its thread is not started: we publish
    # An entry as a process of the previous release wrote it: no line type.
    old = {
        "provider": "twilio",
        "to": tracker.number,
        "from": CALLER,
        "at": "2026-01-05T12:00:00+00:00",
    }
    assert journal.write(spool.CALL, "CAold", old)
    inbound = InboundCall("CAnew", tracker.number, "+14155550999", line_type="landline")
    take_call(settings, "twilio", inbound, route, journal)
    journal.close()

    assert replay_spool(database, settings) == 2

    stored = {call.provider_call_id: call.caller_line_type for call in calls_in(database)}
    assert stored == {"CAold": None, "CAnew": "landline"}


def test_a_sandbox_call_can_carry_a_line_type(
    client: TestClient, settings: Settings, database: Database, factory: Factory, site: Site
) -> None:
    """``callpool call --line-type`` and the tests place sandbox calls with one: signed with the
    secret key, in the shape a lookup Add-on sends."""
    tracker = factory.tracker(factory.pool(site))
    request = voice_request(
        settings, to_number=tracker.number, from_number=CALLER, line_type="voip"
    )

    answer = client.post(request.path, data=request.data, headers=request.headers)
    settled(settings)

    assert "<Dial" in answer.text
    [call] = calls_in(database)
    assert (call.provider, call.caller_line_type) == ("sandbox", "voip")
