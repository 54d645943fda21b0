"""The webhooks pages: add, change, rotate, see deliveries, redeliver, delete; another
account's endpoint is a 404 page; a private address is refused beside the field."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from callpool.app import create_app
from callpool.db import Database
from callpool.integrations import jobs
from callpool.settings import Settings
from tests.calls.conftest import Factory
from tests.dashboard.conftest import post_form, sign_in
from tests.integrations.conftest import Receiver, Setup, add_endpoint, visit_and_call


def test_an_owner_manages_an_endpoint_and_sees_its_deliveries(
    client: TestClient,
    database: Database,
    settings: Settings,
    factory: Factory,
    setup: Setup,
    receiver: Receiver,
) -> None:
    factory.user(setup.account)
    sign_in(client, "owner@acme.test")
    added = post_form(
        client,
        "/dashboard/webhooks",
        "/dashboard/webhooks",
        {"url": receiver.url, "event:call.started": "on", "description": "CRM"},
    )
    assert added.status_code == 303
    page = client.get(added.headers["location"])
    assert "Endpoint added." in page.text
    secret = re.search(r'id="secret" class="secret">(whsec_[^<]+)<', page.text)
    assert secret
    receiver.secret = secret.group(1)
    endpoint_url = added.headers["location"].split("?")[0]

    visit_and_call(factory, setup, settings, "CA-dash")
    jobs.deliver(database, settings)
    page = client.get(endpoint_url)
    assert "call.started" in page.text
    assert receiver.received[0].webhook_id in page.text
    assert "delivered" in page.text
    assert "HTTP 200" in page.text
    assert "{&#34;ok&#34;: true}" in page.text  # the answer's first bytes
    assert " ms" in page.text

    redeliver = re.search(r'action="(/dashboard/webhooks/\d+/deliveries/\d+/redeliver)"', page.text)
    assert redeliver
    again = post_form(client, endpoint_url, redeliver.group(1), {})
    assert "Queued" in again.text
    jobs.deliver(database, settings)
    assert len(receiver.received) == 2

    changed = post_form(
        client,
        endpoint_url,
        endpoint_url,
        {"url": receiver.url, "event:call.completed": "on", "description": "CRM"},
    )
    assert "Saved." in changed.text
    rotated = post_form(client, endpoint_url, f"{endpoint_url}/rotate", {})
    assert "New secret below" in rotated.text
    assert receiver.secret not in rotated.text.split("Signing secret")[1].split("</code>")[0]

    deleted = post_form(client, endpoint_url, f"{endpoint_url}/delete", {})
    assert deleted.status_code == 303
    assert client.get(endpoint_url).status_code == 404


def test_a_private_address_is_refused_beside_the_field(
    settings: Settings, database: Database, setup: Setup, factory: Factory
) -> None:
    factory.user(setup.account)
    strict = settings.model_copy(update={"webhooks_allow_private": False})
    with TestClient(create_app(strict, database)) as client:
        sign_in(client, "owner@acme.test")
        refused = post_form(
            client,
            "/dashboard/webhooks",
            "/dashboard/webhooks",
            {"url": "http://169.254.169.254/", "event:call.started": "on"},
        )
    assert refused.status_code == 422
    assert "private, loopback or link-local" in refused.text
    assert "No endpoints yet." in refused.text


def test_another_accounts_endpoint_is_a_404_page(
    client: TestClient,
    auth: dict[str, str],
    factory: Factory,
    setup: Setup,
    receiver: Receiver,
) -> None:
    created = add_endpoint(client, auth, receiver, ["call.started"])
    other = factory.account("Rival")
    factory.user(other, "rival@rival.test")
    sign_in(client, "rival@rival.test")
    assert client.get(f"/dashboard/webhooks/{created['id']}").status_code == 404
    assert receiver.url not in client.get("/dashboard/webhooks").text
