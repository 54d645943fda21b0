"""``callpool call``: a simulated call to a running server, through its real webhooks.

It sends what a carrier would (the voice webhook, then the status callback), signed as the
sandbox carrier signs: with the server's secret key, for the server's public URL. So the
call is routed, spooled, stored and attributed by the same code as a real one, and shows on
the dashboard with its journey. The server must run the sandbox provider: a real deployment
answers the sandbox's webhooks 404, so simulated calls never mix with real ones.
"""

from __future__ import annotations

import argparse
import urllib.error
import urllib.request
from urllib.parse import urlencode

import phonenumbers

from callpool.seeding import demo_settings
from callpool.settings import Settings, load_settings, secret_file, with_secret
from callpool.telephony.base import LINE_TYPES
from callpool.telephony.sandbox.simulate import WebhookRequest, status_request, voice_request

HELP = "place a simulated call to a tracking number of a running server (sandbox provider)"
CALLER = "+15125550142"  # fictional (555-01xx)
STATUSES = ("completed", "no-answer", "busy")
TIMEOUT_SECONDS = 10.0


def add_to(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--to", required=True, metavar="NUMBER", help="the tracking number to call, as shown"
    )
    parser.add_argument(
        "--from", dest="caller", default=CALLER, metavar="NUMBER", help="the caller's number"
    )
    parser.add_argument(
        "--duration", type=int, default=60, metavar="S", help="seconds the call lasts, if answered"
    )
    parser.add_argument(
        "--line-type",
        choices=LINE_TYPES,
        help="the caller's line, as a carrier's line-type lookup reports it (default: none)",
    )
    parser.add_argument("--status", choices=STATUSES, default="completed", help="how the call ends")
    parser.add_argument(
        "--server",
        metavar="URL",
        help="the server's public URL (default: CALLPOOL_PUBLIC_URL)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="the server is `callpool demo`: sign with the demo's secret key",
    )
    parser.set_defaults(run=run_call)


def run_call(args: argparse.Namespace) -> int:
    settings = _signing_settings(args)
    to_number, caller = _e164(args.to, "--to"), _e164(args.caller, "--from")
    voice = voice_request(
        settings, to_number=to_number, from_number=caller, line_type=args.line_type
    )
    answer = _post(settings.public_url, voice)
    if "<Dial" not in answer:
        raise ValueError(
            f"{args.to} is not a tracking number of {settings.public_url}: use one its site "
            "shows (the pool page lists them)"
        )
    duration = args.duration if args.status == "completed" else 0
    _post(
        settings.public_url,
        status_request(settings, call_id=voice.call_id, status=args.status, duration=duration),
    )
    ended = f"answered, {duration} s" if args.status == "completed" else args.status
    print(f"called {args.to} from {args.caller} ({ended})")
    print(f"  see it at {settings.public_url}/dashboard/calls")
    return 0


def _signing_settings(args: argparse.Namespace) -> Settings:
    """The server's public URL and its secret key, read (never generated) from where the
    server keeps it: the configured key, else the file beside its database."""
    settings = load_settings()
    if args.demo:
        settings = settings.model_copy(
            update={
                "database_url": settings.demo_database_url,
                "secret_key": "",
                "secret_key_file": None,
            }
        )
    if not settings.secret_key and not secret_file(settings).exists():
        raise ValueError(
            f"no secret key to sign the call with ({secret_file(settings)} does not exist): "
            "run this beside the server, with its settings"
            + ("" if args.demo else ", or add --demo for `callpool demo`")
        )
    settings = demo_settings(settings) if args.demo else with_secret(settings)
    if args.server:
        settings = settings.model_copy(update={"public_url": args.server.rstrip("/")})
    return settings


def _e164(number: str, option: str) -> str:
    try:
        parsed = phonenumbers.parse(number, "US")
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"{option} {number}: not a phone number, like (512) 555-0123")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def _post(server: str, request: WebhookRequest) -> str:
    body = urlencode(request.data).encode()
    headers = {**request.headers, "Content-Type": "application/x-www-form-urlencoded"}
    sent = urllib.request.Request(server + request.path, body, headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(sent, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return str(response.read().decode())
    except urllib.error.HTTPError as error:
        raise ValueError(_refusal(server, error.code)) from None
    except (urllib.error.URLError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise ValueError(
            f"no server answers at {server} ({reason}): start one (`callpool demo` or "
            "`callpool serve`), or give its address with --server"
        ) from None


def _refusal(server: str, code: int) -> str:
    if code == 404:
        return (
            f"{server} does not take simulated calls: it runs a real carrier "
            "(CALLPOOL_TELEPHONY_PROVIDER is not sandbox)"
        )
    if code == 403:
        return (
            f"{server} refused the call's signature: sign with its secret key (run this "
            "beside it, with its settings; --demo for `callpool demo`) and give its public "
            "URL exactly, as --server or CALLPOOL_PUBLIC_URL"
        )
    return f"{server} answered {code} to the simulated call"
