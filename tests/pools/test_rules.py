"""Pool rules: which visits a pool serves."""

from __future__ import annotations

from typing import Any

import pytest

from callpool.pools.rules import compile_rules, validate_rules


@pytest.mark.parametrize(
    ("rules", "path", "source", "expected"),
    [
        ({}, "/anything", "google/organic", True),
        ({"paths": ["/austin*"]}, "/austin", "(direct)/(none)", True),
        ({"paths": ["/austin*"]}, "/Austin/plumbers/", "(direct)/(none)", True),
        ({"paths": ["/austin*"]}, "/dallas", "(direct)/(none)", False),
        ({"paths": ["/contact"]}, "/contact/", "(direct)/(none)", True),
        ({"paths": ["/contact"]}, "/contact-us", "(direct)/(none)", False),
        ({"paths": ["*/emergency"]}, "/austin/emergency", "(direct)/(none)", True),
        ({"sources": ["google/cpc", "facebook/*"]}, "/", "google/cpc", True),
        ({"sources": ["google/cpc", "facebook/*"]}, "/", "facebook/social", True),
        ({"sources": ["google/cpc", "facebook/*"]}, "/", "google/organic", False),
        ({"sources": ["bing"]}, "/", "bing/organic", True),
        ({"sources": ["*/organic"]}, "/", "duckduckgo/organic", True),
        ({"sources": ["a.b/referral"]}, "/", "axb/referral", False),  # dots are literal
        ({"paths": ["/austin*"], "sources": ["google/cpc"]}, "/austin", "google/organic", False),
        ({"paths": ["/austin*"], "sources": ["google/cpc"]}, "/austin", "google/cpc", True),
    ],
)
def test_rules_match(rules: dict[str, Any], path: str, source: str, expected: bool) -> None:
    source_name, medium = source.split("/")

    assert compile_rules(rules).matches(path, source_name, medium) is expected


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("/austin", "must be an object"),
        ({"pages": ["/a"]}, "unknown rule key"),
        ({"paths": "/austin"}, "list of strings"),
        ({"paths": []}, "1 to 100 patterns"),
        ({"paths": ["austin"]}, "start with /"),
        ({"sources": ["x" * 301]}, "1 to 300 characters"),
    ],
)
def test_invalid_rules_are_refused_with_a_reason(rules: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_rules(rules)
