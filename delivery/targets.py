"""Which webhook targets the register may call: configured schemes, no internal hosts.

A subscription makes the worker send requests from inside the network, so a target is
refused unless its scheme is allowed (ENTENTE_WEBHOOK_SCHEMES, default `https`) and every
address its host resolves to is public: loopback, private, link-local (which holds the
cloud metadata endpoints such as 169.254.169.254), multicast, reserved and unspecified
addresses are refused, and so are metadata host names. An operator allows an internal
receiver by naming its host (or a CIDR it resolves into) in ENTENTE_WEBHOOK_ALLOW_HOSTS,
comma-separated. The check runs when a subscription is made and again before every
delivery, so a name re-pointed at an internal address later is refused then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

import msgspec

SCHEMES_ENV = "ENTENTE_WEBHOOK_SCHEMES"
ALLOW_HOSTS_ENV = "ENTENTE_WEBHOOK_ALLOW_HOSTS"
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
RESOLVE_TIMEOUT = 5.0

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """A target URL the register will not call; the message says why."""


class TargetPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Allowed schemes, and the hosts or networks allowed although internal."""

    schemes: tuple[str, ...] = ("https",)
    allow_hosts: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> TargetPolicy:
        """The policy configured by ENTENTE_WEBHOOK_SCHEMES and ENTENTE_WEBHOOK_ALLOW_HOSTS."""
        schemes = _items(os.environ.get(SCHEMES_ENV, "https"))
        return cls(
            schemes=tuple(s.lower() for s in schemes) or ("https",),
            allow_hosts=tuple(h.lower() for h in _items(os.environ.get(ALLOW_HOSTS_ENV, ""))),
        )

    def allows_internal(self, host: str, addresses: Sequence[Address] = ()) -> bool:
        """Whether the operator allowed `host` (by name, address or network)."""
        for allowed in self.allow_hosts:
            if allowed == host:
                return True
            try:
                network = ipaddress.ip_network(allowed, strict=False)
            except ValueError:
                continue
            if addresses and all(a in network for a in addresses):
                return True
        return False


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _internal(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address in METADATA_ADDRESSES
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def parse_target(url: str, policy: TargetPolicy) -> tuple[str, str, int]:
    """(scheme, host, port) of an absolute URL the policy's schemes allow; else refused."""
    if len(url) > 2000 or any(ord(c) < 33 for c in url):
        raise TargetRefused("the target URL is too long or contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"the target URL is not valid: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("the target must be an absolute http(s) URL with a host")
    if scheme not in policy.schemes:
        raise TargetRefused(
            f"the {scheme} scheme is not allowed for targets (allowed: {', '.join(policy.schemes)})"
        )
    if parts.username or parts.password:
        raise TargetRefused("the target URL must not carry credentials; the signature proves us")
    if parts.fragment:
        raise TargetRefused("the target URL must not have a fragment")
    host = parts.hostname.lower().rstrip(".")
    return scheme, host, port or (443 if scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (itself, when it is an address)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT
        )
    except (OSError, TimeoutError, UnicodeError) as error:
        raise TargetRefused(f"the target host {host!r} does not resolve ({error})") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]


async def check_target(url: str, policy: TargetPolicy) -> None:
    """Refuse `url` (TargetRefused) unless the policy allows calling it now."""
    _, host, port = parse_target(url, policy)
    if policy.allows_internal(host):
        return
    if host in METADATA_NAMES or host == "localhost" or host.endswith((".localhost", ".internal")):
        raise TargetRefused(
            f"the target host {host!r} is internal; allow it in {ALLOW_HOSTS_ENV} if intended"
        )
    addresses = await resolve(host, port)
    if policy.allows_internal(host, addresses):
        return
    refused = [a for a in addresses if _internal(a)]
    if refused:
        what = "a cloud metadata address" if set(refused) & METADATA_ADDRESSES else "internal"
        raise TargetRefused(
            f"the target host {host!r} resolves to {refused[0]}, which is {what}; targets must"
            f" be public unless allowed in {ALLOW_HOSTS_ENV}"
        )
