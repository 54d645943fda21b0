"""A manual pool from the dashboard: the operator activates, flags and unflags its trackers."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.dashboard.conftest import AccountData, post_form
from tests.dashboard.test_forms import new_pool


def test_operator_drives_a_manual_pools_trackers(
    as_owner: TestClient, account_data: AccountData
) -> None:
    created = new_pool(as_owner, account_data.site_id, kind="manual", size="2", area_code="512")
    assert created.status_code == 303
    page_url = created.headers["location"].split("?")[0]
    page = as_owner.get(page_url).text
    activate = re.findall(r'action="(/dashboard/pools/\d+/trackers/\d+/activate)"', page)
    assert len(activate) == 2  # both trackers start available

    missing = post_form(as_owner, page_url, activate[0], {"source": "google"})
    assert missing.status_code == 422
    assert "give the source and the medium" in missing.text

    done = post_form(as_owner, page_url, activate[0], {"source": "google", "medium": "cpc"})
    assert done.status_code == 303
    page = as_owner.get(page_url).text
    assert "google / cpc" in page
    assert page.count('class="badge active"') == 1

    twice = post_form(as_owner, page_url, activate[1], {"source": "google", "medium": "cpc"})
    assert twice.status_code == 409
    assert "google/cpc already has the active tracker" in twice.text

    flag = activate[0].replace("/activate", "/flag")
    assert post_form(as_owner, page_url, flag, {}).status_code == 303
    assert 'class="badge flagged"' in as_owner.get(page_url).text
    unflag = activate[0].replace("/activate", "/unflag")
    assert post_form(as_owner, page_url, unflag, {}).status_code == 303
    assert 'class="badge active"' in as_owner.get(page_url).text
