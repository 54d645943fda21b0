"""Signed sandbox webhooks: what a carrier would send for a call, for the demo and tests.

``voice_request`` and ``status_request`` return the path, form and headers to POST to the app
(any HTTP client, or Starlette's TestClient); the app checks them like a real carrier's.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from callpool.settings import Settings
from callpool.telephony.sandbox.provider import SandboxProvider
from callpool.telephony.twilio.wire import SIGNATURE_HEADER


@dataclass(frozen=True)
class WebhookRequest:
    path: str
    data: dict[str, str]
    headers: dict[str, str]

    @property
    def call_id(self) -> str:
        return self.data["CallSid"]


def new_call_id() -> str:
    return "CA" + secrets.token_hex(16)


def voice_request(
    settings: Settings,
    *,
    to_number: str,
    from_number: str,
    call_id: str | None = None,
    line_type: str | None = None,
) -> WebhookRequest:
    """``line_type`` (mobile, landline, voip): sent as a line-type lookup Add-on would send it."""
    params = {
        "CallSid": call_id or new_call_id(),
        "AccountSid": "ACsandbox",
        "To": to_number,
        "From": from_number,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    if line_type is not None:
        params["AddOns"] = addons_document(line_type)
    return signed(settings, "/webhooks/sandbox/voice", params)


def addons_document(line_type: str) -> str:
    """The ``AddOns`` parameter of a call to a number with Twilio's Lookup v2 line type
    Add-on enabled (the shape ``wire.line_type_of`` reads)."""
    twilio_name = "fixedVoip" if line_type == "voip" else line_type
    result = {"line_type_intelligence": {"type": twilio_name, "error_code": None}}
    return json.dumps(
        {
            "status": "successful",
            "message": None,
            "code": None,
            "results": {
                "lookup_line_type": {
                    "request_sid": "XR" + secrets.token_hex(16),
                    "status": "successful",
                    "message": None,
                    "code": None,
                    "result": result,
                }
            },
        }
    )


def status_request(
    settings: Settings, *, call_id: str, status: str, duration: int | None = None
) -> WebhookRequest:
    params = {"CallSid": call_id, "AccountSid": "ACsandbox", "CallStatus": status}
    if duration is not None:
        params["CallDuration"] = str(duration)
    return signed(settings, "/webhooks/sandbox/status", params)


def signed(settings: Settings, path: str, params: dict[str, str]) -> WebhookRequest:
    signature = SandboxProvider(settings.secret_key).sign(settings.public_url + path, params)
    return WebhookRequest(path, params, {SIGNATURE_HEADER: signature})
