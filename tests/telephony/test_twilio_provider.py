"""TwilioProvider against a local fake of Twilio's REST API: numbers, webhooks, errors."""

from __future__ import annotations

import pytest

from callpool.settings import Settings
from callpool.telephony.base import ProviderError
from callpool.telephony.registry import provider_for
from callpool.telephony.twilio.provider import TwilioProvider
from tests.telephony.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BASE,
    EMPTY_AREA_CODE,
    FakeTwilio,
)

VOICE = "https://callpool.test/webhooks/twilio/voice"
STATUS = "https://callpool.test/webhooks/twilio/status"


@pytest.fixture
def twilio(fake_twilio: FakeTwilio) -> TwilioProvider:
    settings = Settings(
        telephony_provider="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=fake_twilio.url,
        _env_file=None,
    )
    provider = provider_for(settings)
    assert isinstance(provider, TwilioProvider)
    return provider


def test_search_local_numbers_by_area_code(twilio: TwilioProvider, fake_twilio: FakeTwilio) -> None:
    numbers = twilio.search_numbers(area_code="512", toll_free=False, limit=3)

    assert numbers == ["+15125551000", "+15125551001", "+15125551002"]
    [seen] = fake_twilio.requests
    assert seen.path == BASE + "/AvailablePhoneNumbers/US/Local.json"
    assert seen.query["AreaCode"] == "512"
    assert seen.query["VoiceEnabled"] == "true"


def test_search_toll_free_numbers(twilio: TwilioProvider, fake_twilio: FakeTwilio) -> None:
    numbers = twilio.search_numbers(area_code=None, toll_free=True, limit=2)

    assert numbers == ["+18005551000", "+18005551001"]
    assert fake_twilio.requests[0].path.endswith("/AvailablePhoneNumbers/US/TollFree.json")


def test_an_area_code_with_no_numbers_is_said_in_words(twilio: TwilioProvider) -> None:
    with pytest.raises(ProviderError) as error:
        twilio.search_numbers(area_code=EMPTY_AREA_CODE, toll_free=False, limit=5)

    assert str(error.value) == (
        f"Twilio has no numbers in area code {EMPTY_AREA_CODE} available right now; "
        "try another area code"
    )
    assert error.value.permanent


def test_a_malformed_area_code_is_refused_before_asking_twilio(
    twilio: TwilioProvider, fake_twilio: FakeTwilio
) -> None:
    with pytest.raises(ProviderError, match="3-digit area code") as error:
        twilio.search_numbers(area_code="51", toll_free=False, limit=5)

    assert error.value.permanent
    assert fake_twilio.requests == []


def test_buy_points_both_webhooks_at_callpool_and_release_gives_it_back(
    twilio: TwilioProvider, fake_twilio: FakeTwilio
) -> None:
    bought = twilio.buy_number("+15125551000", voice_url=VOICE, status_url=STATUS)

    assert bought.number == "+15125551000"
    assert bought.provider_sid.startswith("PN")
    purchase = fake_twilio.requests[-1]
    assert purchase.method == "POST"
    assert purchase.path == BASE + "/IncomingPhoneNumbers.json"
    assert purchase.form == {
        "PhoneNumber": "+15125551000",
        "VoiceUrl": VOICE,
        "VoiceMethod": "POST",
        "StatusCallback": STATUS,
        "StatusCallbackMethod": "POST",
    }

    twilio.configure_webhooks(
        bought.provider_sid, voice_url=VOICE + "?v=2", status_url=STATUS + "?v=2"
    )
    assert fake_twilio.owned[bought.provider_sid]["VoiceUrl"] == VOICE + "?v=2"

    twilio.release_number(bought.provider_sid)
    assert fake_twilio.owned == {}
    assert fake_twilio.requests[-1].method == "DELETE"
    # Releasing again (already gone at Twilio) is not an error: the number is released.
    twilio.release_number(bought.provider_sid)


def test_owned_numbers_lists_every_page(twilio: TwilioProvider, fake_twilio: FakeTwilio) -> None:
    bought = [
        twilio.buy_number(f"+1512555100{n}", voice_url=VOICE, status_url=STATUS) for n in range(5)
    ]
    twilio.owned_page_size = 2  # three pages of Twilio's list

    owned = twilio.owned_numbers()

    assert set(owned) == set(bought)
    lists = [r for r in fake_twilio.requests if r.method == "GET"]
    assert [r.path for r in lists] == [BASE + "/IncomingPhoneNumbers.json"] * 3


def test_a_failed_listing_is_a_provider_error(
    twilio: TwilioProvider, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.fail_next(503, 20503, "Service unavailable")

    with pytest.raises(ProviderError) as error:
        twilio.owned_numbers()

    assert not error.value.permanent


def test_bad_credentials_are_a_permanent_error_in_words(fake_twilio: FakeTwilio) -> None:
    wrong = TwilioProvider(ACCOUNT_SID, "not-the-token", api_base_url=fake_twilio.url)

    with pytest.raises(ProviderError, match="refused the credentials") as error:
        wrong.search_numbers(area_code="512", toll_free=False, limit=1)

    assert error.value.permanent


@pytest.mark.parametrize(
    ("status", "code", "permanent", "words"),
    [
        (429, 20429, False, "rate limiting"),
        (503, 20503, False, "try again later"),
        (500, 20500, False, "try again later"),
        (400, 21422, True, "PhoneNumber is not available"),
    ],
)
def test_twilio_errors_become_provider_errors(
    twilio: TwilioProvider,
    fake_twilio: FakeTwilio,
    status: int,
    code: int,
    permanent: bool,
    words: str,
) -> None:
    fake_twilio.fail_next(status, code, "PhoneNumber is not available")

    with pytest.raises(ProviderError, match=words) as error:
        twilio.buy_number("+15125551000", voice_url=VOICE, status_url=STATUS)

    assert error.value.permanent is permanent


def test_an_unreachable_api_is_not_permanent() -> None:
    offline = TwilioProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url="http://127.0.0.1:1")

    with pytest.raises(ProviderError, match="could not reach Twilio") as error:
        offline.search_numbers(area_code="512", toll_free=False, limit=1)

    assert not error.value.permanent


def test_twilio_needs_credentials_to_start() -> None:
    settings = Settings(telephony_provider="twilio", _env_file=None)

    with pytest.raises(ValueError, match="CALLPOOL_TWILIO_AUTH_TOKEN"):
        provider_for(settings)
