"""Pool rules: which visits a pool serves.

A pool's ``rules`` is a JSON object; every key present must match (AND), any pattern of a key
may match (OR); an empty object matches every visit::

    {"paths": ["/austin*", "/locations/austin"], "sources": ["google/cpc", "facebook/*"]}

- ``paths``: patterns on the page's path (no query string). ``*`` matches any run of
  characters, ``/`` included; a trailing slash is ignored; case-insensitive.
- ``sources``: patterns on ``source/medium`` of the session (``google/cpc``, ``*/organic``,
  ``facebook/*``). A pattern without a slash names a source with any medium (``bing``).

Rules are checked on every visit, so they are compiled once, when a pool is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

RULE_KEYS = ("paths", "sources")
MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 300


@dataclass(frozen=True, slots=True)
class Rules:
    """Compiled rules; ``None`` for a key means "any"."""

    paths: re.Pattern[str] | None = None
    sources: re.Pattern[str] | None = None

    def matches(self, path: str, source: str, medium: str) -> bool:
        if self.paths is not None and not self.paths.fullmatch(_normal_path(path)):
            return False
        return self.sources is None or bool(self.sources.fullmatch(f"{source}/{medium}"))


MATCH_ALL = Rules()


def validate_rules(rules: Any) -> dict[str, list[str]]:
    """The rules in canonical form, or ``ValueError`` with a message fit for the operator."""
    if rules is None:
        return {}
    if not isinstance(rules, Mapping):
        raise ValueError('rules must be an object like {"paths": ["/austin*"]}')
    unknown = sorted(set(rules) - set(RULE_KEYS))
    if unknown:
        raise ValueError(f"unknown rule key(s) {unknown}; known: {list(RULE_KEYS)}")
    clean: dict[str, list[str]] = {}
    for key in RULE_KEYS:
        if key not in rules:
            continue
        patterns = rules[key]
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise ValueError(f"rules.{key} must be a list of strings")
        if not 1 <= len(patterns) <= MAX_PATTERNS:
            raise ValueError(f"rules.{key} must hold 1 to {MAX_PATTERNS} patterns")
        if any(not p.strip() or len(p) > MAX_PATTERN_LENGTH for p in patterns):
            raise ValueError(f"rules.{key}: patterns are 1 to {MAX_PATTERN_LENGTH} characters")
        if key == "paths" and any(not p.strip().startswith(("/", "*")) for p in patterns):
            raise ValueError("rules.paths: patterns start with / (or *), like /austin*")
        clean[key] = [p.strip() for p in patterns]
    return clean


def compile_rules(rules: Any) -> Rules:
    """Compile validated (or stored) rules; ``ValueError`` if they are not valid."""
    clean = validate_rules(rules)
    if not clean:
        return MATCH_ALL
    paths = clean.get("paths")
    sources = clean.get("sources")
    return Rules(
        paths=None if paths is None else _alternatives(_normal_path(p) for p in paths),
        sources=None if sources is None else _alternatives(_source_pattern(p) for p in sources),
    )


def _normal_path(path: str) -> str:
    return path.rstrip("/") or "/"


def _source_pattern(pattern: str) -> str:
    return pattern.lower() if "/" in pattern else f"{pattern.lower()}/*"


def _alternatives(globs: Iterable[str]) -> re.Pattern[str]:
    regexes = (re.escape(glob).replace(r"\*", ".*") for glob in globs)
    return re.compile("|".join(f"(?:{regex})" for regex in regexes), re.IGNORECASE | re.DOTALL)
