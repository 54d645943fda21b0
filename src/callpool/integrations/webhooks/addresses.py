"""Tenant-supplied URLs never reach the server's own network.

An endpoint's host is resolved and every address it resolves to must be public: not private,
loopback, link-local, shared (CGNAT), multicast or reserved. It is checked when the endpoint is
saved and again at each delivery, and the delivery connects to the very address that was
checked, so a name that resolves differently later (DNS rebinding) gains nothing.
``CALLPOOL_WEBHOOKS_ALLOW_PRIVATE=true`` lifts the rule (tests, internal deployments).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from urllib.parse import SplitResult, urlsplit

from callpool.errors import Invalid

SCHEMES = {"http": 80, "https": 443}


class Refused(Invalid):
    """The URL cannot be delivered to (bad form, unresolvable, or a private address)."""


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: the URL's parts and the checked address to connect to."""

    scheme: str
    host: str
    port: int
    path: str  # with the query
    address: str


def parse(url: str) -> SplitResult:
    """The URL's parts, or ``Refused`` saying what is wrong with its form."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("this is not a URL", field="url") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise Refused("give an http:// or https:// URL with a host name", field="url")
    if parts.username or parts.password:
        raise Refused("credentials in the URL are not supported", field="url")
    if port == 0:
        raise Refused("port 0 cannot be connected to", field="url")
    return parts


def resolve(url: str, *, allow_private: bool) -> Target:
    """The URL's target with an address it may connect to, or ``Refused``. Resolves the name:
    blocks, so call it off the event loop."""
    parts = parse(url)
    host = parts.hostname or ""
    port = parts.port or SCHEMES[parts.scheme]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Refused(f"the host {host} does not resolve", field="url") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise Refused(f"the host {host} does not resolve", field="url")
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise Refused(
                    f"{host} resolves to {address}, a private, loopback or link-local "
                    "address: endpoints must be reachable on the public internet",
                    field="url",
                )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, addresses[0])


def is_public(address: str) -> bool:
    ip: IPv4Address | IPv6Address = ip_address(address.split("%")[0])  # drop an IPv6 zone
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_global and not ip.is_multicast
