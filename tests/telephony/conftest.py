"""A small fake of Twilio's REST API on 127.0.0.1 (a third party's HTTP API: the one fake we use).

It answers the few endpoints callpool calls, in Twilio's own JSON shapes, checks HTTP basic
auth, records each request, and can be told to fail the next one.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "fake-twilio-token"
BASE = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
EMPTY_AREA_CODE = "907"  # the fake has no numbers there


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]


@dataclass
class FakeTwilio:
    url: str = ""
    requests: list[Seen] = field(default_factory=list)
    owned: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def fail_next(self, status: int, code: int, message: str) -> None:
        body = {"code": code, "message": message, "more_info": "", "status": status}
        self.failures.append((status, body))


class Handler(BaseHTTPRequestHandler):
    fake: FakeTwilio

    def log_message(self, format: str, *args: Any) -> None:
        return  # keep test output quiet

    def do_GET(self) -> None:
        self.handle_any("GET")

    def do_POST(self) -> None:
        self.handle_any("POST")

    def do_DELETE(self) -> None:
        self.handle_any("DELETE")

    def handle_any(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.fake.requests.append(Seen(method, parts.path, query, form))
        if not self.authorized():
            self.reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        if self.fake.failures:
            self.reply(*self.fake.failures.pop(0))
            return
        self.route(method, parts.path, query, form)

    def authorized(self) -> bool:
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return self.headers.get("Authorization") == f"Basic {expected}"

    def route(self, method: str, path: str, query: dict[str, str], form: dict[str, str]) -> None:
        available = re.fullmatch(BASE + r"/AvailablePhoneNumbers/US/(Local|TollFree)\.json", path)
        owned = re.fullmatch(BASE + r"/IncomingPhoneNumbers/(PN\w+)\.json", path)
        if method == "GET" and available:
            self.reply(200, self.available(available.group(1), query))
        elif method == "GET" and path == BASE + "/IncomingPhoneNumbers.json":
            self.reply(200, self.owned_page(query))
        elif method == "POST" and path == BASE + "/IncomingPhoneNumbers.json":
            sid = "PN" + form["PhoneNumber"].lstrip("+").rjust(32, "0")
            self.fake.owned[sid] = {"sid": sid, "phone_number": form["PhoneNumber"], **form}
            self.reply(201, self.fake.owned[sid])
        elif method == "POST" and owned and owned.group(1) in self.fake.owned:
            self.fake.owned[owned.group(1)].update(form)
            self.reply(200, self.fake.owned[owned.group(1)])
        elif method == "DELETE" and owned and owned.group(1) in self.fake.owned:
            del self.fake.owned[owned.group(1)]
            self.send_response(204)
            self.end_headers()
        else:
            message = f"The requested resource {path} was not found"
            self.reply(404, {"code": 20404, "message": message, "status": 404})

    def available(self, kind: str, query: dict[str, str]) -> dict[str, Any]:
        area = "800" if kind == "TollFree" else query.get("AreaCode", "512")
        count = 0 if area == EMPTY_AREA_CODE else min(int(query.get("PageSize", "50")), 20)
        numbers = [
            {"phone_number": f"+1{area}555{1000 + n}", "friendly_name": "", "iso_country": "US"}
            for n in range(count)
        ]
        return {"available_phone_numbers": numbers, "uri": self.path, "end": count - 1}

    def owned_page(self, query: dict[str, str]) -> dict[str, Any]:
        """One page of owned numbers, with Twilio's paging links (Page, PageSize)."""
        size, page = int(query.get("PageSize", "50")), int(query.get("Page", "0"))
        records = list(self.fake.owned.values())
        chunk = records[page * size : (page + 1) * size]
        more = (page + 1) * size < len(records)
        next_uri = f"{BASE}/IncomingPhoneNumbers.json?PageSize={size}&Page={page + 1}"
        return {
            "incoming_phone_numbers": chunk,
            "page": page,
            "page_size": size,
            "uri": self.path,
            "next_page_uri": next_uri if more else None,
        }

    def reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    handler = type("BoundHandler", (Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()
