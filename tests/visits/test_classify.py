"""Source / medium classification, the way analytics tools tell where a visit came from."""

from __future__ import annotations

import pytest

from callpool.visits.agents import device_of
from callpool.visits.classify import classify
from callpool.visits.service import display

SITE = "https://acme-plumbing.example"
OWN = frozenset({"acme-plumbing.example"})

CASES = [
    # (landing URL, referrer) → (source, medium)
    ("/", "", ("(direct)", "(none)")),
    ("/", "https://www.google.com/", ("google", "organic")),
    ("/", "https://www.google.co.uk/search?q=plumber", ("google", "organic")),
    ("/", "android-app://com.google.android.googlequicksearchbox/", ("google", "organic")),
    ("/", "https://www.bing.com/", ("bing", "organic")),
    ("/", "https://duckduckgo.com/", ("duckduckgo", "organic")),
    ("/", "https://uk.search.yahoo.com/", ("yahoo", "organic")),
    ("/", "https://yandex.ru/search/", ("yandex", "organic")),
    ("/", "https://l.facebook.com/l.php?u=x", ("facebook", "social")),
    ("/", "https://t.co/abc", ("twitter", "social")),
    ("/", "https://www.linkedin.com/feed/", ("linkedin", "social")),
    ("/", "https://www.reddit.com/r/plumbing", ("reddit", "social")),
    ("/", "https://mail.google.com/", ("mail.google.com", "referral")),
    ("/", "https://www.yelp.com/biz/acme", ("yelp.com", "referral")),
    ("/", "https://acme-plumbing.example/services", ("(direct)", "(none)")),
    ("/", "https://www.acme-plumbing.example/", ("(direct)", "(none)")),
    ("/", "not a url", ("(direct)", "(none)")),
    ("/?gclid=abc", "", ("google", "cpc")),
    ("/?gbraid=abc", "https://www.google.com/", ("google", "cpc")),
    ("/?wbraid=abc", "", ("google", "cpc")),
    ("/?msclkid=abc", "https://www.bing.com/", ("bing", "cpc")),
    ("/?ttclid=abc", "", ("tiktok", "cpc")),
    ("/?fbclid=abc", "", ("facebook", "social")),
    ("/?fbclid=abc", "https://l.instagram.com/", ("instagram", "social")),
    (
        "/?utm_source=newsletter&utm_medium=email",
        "https://www.google.com/",
        ("newsletter", "email"),
    ),
    ("/?utm_source=Facebook&utm_medium=Paid_Social&fbclid=x", "", ("facebook", "paid_social")),
    ("/?utm_source=google&gclid=x", "", ("google", "cpc")),
    ("/?utm_source=newsletter", "", ("newsletter", "(not set)")),
    ("/?utm_medium=email", "", ("(not set)", "email")),
    ("/?utm_source=partner", "https://acme-plumbing.example/", ("partner", "(not set)")),
    ("/?utm_campaign=spring&gclid=x", "", ("google", "cpc")),
]


@pytest.mark.parametrize(("path", "referrer", "expected"), CASES)
def test_source_and_medium(path: str, referrer: str, expected: tuple[str, str]) -> None:
    attribution = classify(SITE + path, referrer, OWN)

    assert (attribution.source, attribution.medium) == expected


def test_campaign_details_and_click_ids_are_kept_as_written() -> None:
    url = (
        f"{SITE}/?utm_source=google&utm_medium=cpc&utm_campaign=Spring%20Sale"
        "&utm_term=Emergency+Plumber&utm_content=ad-2&gclid=Cj0KCQ&msclkid=m1"
    )

    attribution = classify(url, "", OWN)

    assert (attribution.campaign, attribution.term, attribution.content) == (
        "Spring Sale",
        "Emergency Plumber",
        "ad-2",
    )
    assert attribution.click_ids == {"gclid": "Cj0KCQ", "msclkid": "m1"}


def test_absurd_parameter_values_are_cut_to_the_column_sizes() -> None:
    attribution = classify(f"{SITE}/?utm_source={'s' * 900}&utm_campaign={'c' * 900}", "", OWN)

    assert len(attribution.source) == 200
    assert attribution.campaign is not None
    assert len(attribution.campaign) == 300


@pytest.mark.parametrize(
    ("agent", "device"),
    [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0", "desktop"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148", "mobile"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/131.0 Mobile Safari/537.36", "mobile"),
        ("Mozilla/5.0 (Linux; Android 13; SM-X710) Chrome/131.0 Safari/537.36", "tablet"),
        ("Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) Mobile/15E148", "tablet"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bot"),
        ("curl/8.5.0", "bot"),
        ("", "bot"),
    ],
)
def test_device_from_the_user_agent(agent: str, device: str) -> None:
    assert device_of(agent) == device


@pytest.mark.parametrize(
    ("number", "region", "shown"),
    [
        ("+15125550123", "US", "(512) 555-0123"),
        ("+15125550199", "US", "(512) 555-0199"),
        ("+18005550123", "US", "(800) 555-0123"),
        ("+442079460018", "GB", "020 7946 0018"),
        ("+442079460018", "US", "+44 20 7946 0018"),
        ("+33123456789", "FR", "01 23 45 67 89"),
        ("+15125550123", "GB", "+1 512-555-0123"),
    ],
)
def test_numbers_are_shown_the_way_the_sites_visitors_write_them(
    number: str, region: str, shown: str
) -> None:
    assert display(number, region) == shown
    assert display(number, region) == shown  # and again, from the cached layout
