"""The sandbox carrier: slow and failing on demand (CALLPOOL_SANDBOX_*), and a ledger of the
numbers it sold that a second process can read."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from callpool.settings import Settings
from callpool.telephony.base import ProviderError
from callpool.telephony.registry import provider_for, sandbox_book_path
from callpool.telephony.sandbox.book import FileBook
from callpool.telephony.sandbox.provider import SandboxProvider

KEY = "test-secret-key-0123456789"
URLS = {"voice_url": "https://callpool.test/v", "status_url": "https://callpool.test/s"}


class GatedSleep:
    """Stands in for ``time.sleep`` to see the wait the sandbox asks for, in which thread."""

    def __init__(self) -> None:
        self.waits: list[tuple[float, str]] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append((seconds, threading.current_thread().name))


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> GatedSleep:
    gated = GatedSleep()
    monkeypatch.setattr("callpool.telephony.sandbox.provider.time.sleep", gated)
    return gated


def test_every_api_call_waits_the_configured_latency_in_the_calling_thread(
    sleeps: GatedSleep, tmp_path: Path
) -> None:
    settings = Settings(
        sandbox_latency_ms=1500,
        routing_cache_path=tmp_path / "routing.json",
        _env_file=None,  # type: ignore[call-arg]
    )
    sandbox = provider_for(settings)

    [number] = sandbox.search_numbers(area_code="512", toll_free=False, limit=1)
    bought = sandbox.buy_number(number, **URLS)
    sandbox.configure_webhooks(bought.provider_sid, **URLS)
    sandbox.release_number(bought.provider_sid)

    me = threading.current_thread().name
    assert sleeps.waits == [(1.5, me)] * 4


def test_a_share_of_calls_fails_transiently_and_the_same_seed_fails_the_same_calls() -> None:
    def outcomes(seed: int) -> list[bool]:
        sandbox = SandboxProvider(KEY, failure_rate=0.3, rng=random.Random(seed))
        results = []
        for _ in range(200):
            try:
                sandbox.search_numbers(area_code="512", toll_free=False, limit=1)
                results.append("ok")
            except ProviderError as error:
                # A flaky carrier: trying again can help.
                results.append("transient" if not error.permanent else "permanent")
        return results

    first = outcomes(7)
    assert first == outcomes(7)
    assert set(first) == {"ok", "transient"}
    assert 40 <= first.count("transient") <= 80  # about 30 % of 200


def test_a_failed_purchase_buys_nothing_and_a_failed_release_keeps_the_number() -> None:
    class Scripted(random.Random):
        """Fails the calls at the given positions."""

        def __init__(self, failing: set[int]) -> None:
            super().__init__(0)
            self.failing, self.calls = failing, 0

        def random(self) -> float:
            self.calls += 1
            return 0.0 if self.calls in self.failing else 0.99

    sandbox = SandboxProvider(KEY, failure_rate=0.5, rng=Scripted({1, 4}))
    with pytest.raises(ProviderError):
        sandbox.buy_number("+15125550100", **URLS)
    assert sandbox.owned_numbers() == []
    bought = sandbox.buy_number("+15125550100", **URLS)
    with pytest.raises(ProviderError):
        sandbox.release_number(bought.provider_sid)
    assert sandbox.owned_numbers() == [bought]


def test_settings_outside_zero_to_one_are_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        SandboxProvider(KEY, failure_rate=1.5)
    with pytest.raises(ValueError, match="less than or equal to 1"):
        Settings(sandbox_failure_rate=2, _env_file=None)  # type: ignore[call-arg]


def test_a_sold_number_is_not_offered_or_sold_again_until_released() -> None:
    sandbox = SandboxProvider(KEY)
    first = sandbox.search_numbers(area_code="512", toll_free=False, limit=2)
    bought = sandbox.buy_number(first[0], **URLS)

    assert sandbox.search_numbers(area_code="512", toll_free=False, limit=1) == [first[1]]
    with pytest.raises(ProviderError, match="already sold") as error:
        sandbox.buy_number(first[0], **URLS)
    assert error.value.permanent
    sandbox.release_number(bought.provider_sid)
    sandbox.release_number(bought.provider_sid)  # already gone: not an error
    assert sandbox.search_numbers(area_code="512", toll_free=False, limit=1) == [first[0]]


def test_another_process_sees_the_numbers_sold_through_the_same_file(tmp_path: Path) -> None:
    settings = Settings(routing_cache_path=tmp_path / "routing.json", _env_file=None)  # type: ignore[call-arg]
    path = sandbox_book_path(settings)
    script = (
        "import sys; from pathlib import Path;"
        "from callpool.telephony.sandbox.book import FileBook;"
        "from callpool.telephony.sandbox.provider import SandboxProvider;"
        f"s = SandboxProvider('{KEY}', book=FileBook(Path(sys.argv[1])));"
        "s.buy_number('+15125550150', voice_url='v', status_url='s')"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60)

    sandbox = provider_for(settings)
    [owned] = sandbox.owned_numbers()
    assert owned.number == "+15125550150"
    assert "+15125550150" not in sandbox.search_numbers(area_code="512", toll_free=False, limit=99)
    sandbox.release_number(owned.provider_sid)
    assert FileBook(path).owned() == {}
