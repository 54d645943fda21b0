"""Who is on the other end of a request: the socket's address, or, only when the socket is a
proxy listed in ``CALLPOOL_TRUSTED_PROXIES``, the address that proxy saw.

Anyone can send ``X-Forwarded-For``; only the entries our own proxies appended are true. Each
proxy appends the address it received the request from, so the header is read from the right:
trusted hops are skipped and the first untrusted one is the client. Entries further left were
written by the client and are ignored. (uvicorn would trust the header from loopback by
default; ``callpool serve`` turns that off, so this is the one place addresses are decided.)
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

from starlette.requests import HTTPConnection

from callpool.settings import Network, Settings

UNKNOWN = "unknown"


def client_address(request: HTTPConnection) -> str:
    settings: Settings = request.app.state.settings
    peer = request.client.host if request.client else UNKNOWN
    if not settings.trusted_proxies or not _trusted(peer, settings.trusted_proxies):
        return peer
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            address = ip_address(hop)
        except ValueError:  # not what a proxy writes: stop at the last address we believe
            return client
        client = str(address)
        if not _within(address, settings.trusted_proxies):
            return client
    return client  # every hop is one of our proxies: the left-most is as far as we know


def _trusted(host: str, networks: tuple[Network, ...]) -> bool:
    try:
        return _within(ip_address(host), networks)
    except ValueError:  # a name, not an address (the test client's "testclient")
        return False


def _within(address: IPv4Address | IPv6Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)
