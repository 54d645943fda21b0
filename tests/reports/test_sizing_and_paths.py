"""Pure rules of the reports: the recommended pool size and a landing URL's path."""

from __future__ import annotations

import pytest

from callpool.reports.expressions import landing_path_of
from callpool.reports.service import recommend_size


@pytest.mark.parametrize(
    ("peak", "exhausted", "daily_visits", "expected"),
    [
        (17, 0, 50, 21),  # 17 concurrent + 20 % = 20.4 → 21
        (2, 0, 50, 4),  # a small site: the seed's floor of 4 numbers
        (5, 0, 500, 8),  # 100–1,000 visits a day: at least 8
        (5, 0, 1500, 15),  # 1,000+ a day: at least 15
        (10, 3, 500, 12),  # ran out at size 10: demand was at least 10, + 20 %
    ],
)
def test_recommended_size_of_a_session_pool(
    peak: int, exhausted: int, daily_visits: float, expected: int
) -> None:
    size, reason = recommend_size("session", 10, peak, exhausted, daily_visits=daily_visits)

    assert size == expected
    assert reason


def test_automated_pools_get_no_size_advice_from_leases() -> None:
    assert recommend_size("automated", 10, 0, 0, daily_visits=0)[0] is None


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://acme.test/plumbing?gclid=abc#top", "/plumbing"),
        ("https://acme.test", "/"),
        ("https://acme.test?utm_source=x", "/"),
        ("http://acme.test:8080/a/b/", "/a/b/"),
        ("/relative/page?x=1", "/relative/page"),
        (None, None),
    ],
)
def test_landing_path(url: str | None, path: str | None) -> None:
    assert landing_path_of(url) == path
