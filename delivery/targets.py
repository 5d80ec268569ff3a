"""Which webhook targets the register may call: configured schemes, no internal hosts.

A subscription makes the worker send requests from inside the network, so a target is
refused unless its scheme is allowed (ENTENTE_WEBHOOK_SCHEMES, default `https`) and every
address its host resolves to is public: loopback, private, link-local (which holds the
cloud metadata endpoints such as 169.254.169.254), multicast, reserved and unspecified
addresses are refused, and so are metadata host names. An operator allows an internal
receiver by naming its host (or a CIDR it resolves into) in ENTENTE_WEBHOOK_ALLOW_HOSTS,
comma-separated. The check runs when a subscription is made and again before every
delivery, so a name re-pointed at an internal address later is refused then.

A delivery connects only to the addresses its check approved (`approve_target`, then
`post_pinned`): the host is resolved once, every address checked, and the request sent to
an approved address with the target's own name in the Host header and, for https, as the
TLS server name the certificate is verified against. So a name that answers a public
address to the check and an internal one a moment later (DNS rebinding) cannot steer the
request inside. At most MAX_RESPONSE_BYTES of a target's answer are read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import os
import socket
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import httpx
import msgspec

SCHEMES_ENV = "ENTENTE_WEBHOOK_SCHEMES"
ALLOW_HOSTS_ENV = "ENTENTE_WEBHOOK_ALLOW_HOSTS"
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
RESOLVE_TIMEOUT = 5.0
MAX_RESPONSE_BYTES = 64 * 1024
"""The most of a target's answer a delivery reads (only its first 200 characters are kept)."""

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


NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to a host that routes it on: mapped
    (::ffff:a.b.c.d), 6to4 (2002:aabb:ccdd::) or NAT64 (64:ff9b::a.b.c.d); Teredo
    addresses are refused whole (not global)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _internal(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded(address)):
        address = inner
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


@dataclasses.dataclass(frozen=True)
class ApprovedTarget:
    """A target URL the policy allows, and the addresses its host resolved to when it was
    checked: the only ones a delivery connects to."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[Address, ...]


def _refuse_internal_name(host: str) -> None:
    if host in METADATA_NAMES or host == "localhost" or host.endswith((".localhost", ".internal")):
        raise TargetRefused(
            f"the target host {host!r} is internal; allow it in {ALLOW_HOSTS_ENV} if intended"
        )


def _refuse_internal_addresses(host: str, addresses: Sequence[Address]) -> None:
    refused = [a for a in addresses if _internal(a)]
    if refused:
        what = "a cloud metadata address" if set(refused) & METADATA_ADDRESSES else "internal"
        raise TargetRefused(
            f"the target host {host!r} resolves to {refused[0]}, which is {what}; targets must"
            f" be public unless allowed in {ALLOW_HOSTS_ENV}"
        )


async def approve_target(url: str, policy: TargetPolicy) -> ApprovedTarget:
    """`url` with the addresses to call it at, resolved once and every one allowed by the
    policy (a host the operator allowed by name may resolve anywhere); else TargetRefused."""
    scheme, host, port = parse_target(url, policy)
    named = policy.allows_internal(host)
    if not named:
        _refuse_internal_name(host)
    addresses = await resolve(host, port)
    if not addresses:
        raise TargetRefused(f"the target host {host!r} resolves to no address")
    if not named and not policy.allows_internal(host, addresses):
        _refuse_internal_addresses(host, addresses)
    return ApprovedTarget(url, scheme, host, port, tuple(dict.fromkeys(addresses)))


async def check_target(url: str, policy: TargetPolicy) -> None:
    """Refuse `url` (TargetRefused) unless the policy allows calling it now (a host allowed
    by name is not resolved: it may be reachable from the workers only)."""
    _, host, _ = parse_target(url, policy)
    if policy.allows_internal(host):
        return
    await approve_target(url, policy)


def pinned_request(
    http: httpx.AsyncClient,
    target: ApprovedTarget,
    address: Address,
    *,
    content: bytes,
    headers: Mapping[str, str],
) -> httpx.Request:
    """A POST of `content` to `target` that connects to `address` (so the HTTP client
    resolves nothing itself) and still names the target's host: in the Host header, and
    for https as the TLS server name (SNI) its certificate is verified against."""
    url = httpx.URL(target.url)
    return http.build_request(
        "POST",
        url.copy_with(host=str(address)),
        content=content,
        headers={
            **headers,
            "Host": url.netloc.decode("ascii"),
            "Accept-Encoding": "identity",  # the capped read is of the bytes as sent
        },
        extensions={"sni_hostname": url.raw_host.decode("ascii")},
    )


async def read_capped(response: httpx.Response, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """At most `limit` bytes of a streamed response's body; the rest is never read."""
    if response.is_stream_consumed:  # made with its body already read (tests' transports)
        return response.content[:limit]
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


async def post_pinned(
    http: httpx.AsyncClient,
    target: ApprovedTarget,
    *,
    content: bytes,
    headers: Mapping[str, str],
    limit: int = MAX_RESPONSE_BYTES,
) -> tuple[int, str]:
    """POST to the target at its approved addresses, in order, moving to the next only when
    one refuses the connection (nothing was sent); (status code, at most `limit` bytes of
    the answer as text). httpx errors propagate, the last address's when all refused."""
    failure: httpx.ConnectError | None = None
    for address in target.addresses:
        request = pinned_request(http, target, address, content=content, headers=headers)
        try:
            response = await http.send(request, stream=True, follow_redirects=False)
        except httpx.ConnectError as refused:
            failure = refused
            continue
        try:
            body = await read_capped(response, limit)
        finally:
            await response.aclose()
        return response.status_code, _text(body, response.charset_encoding)
    if failure is None:
        raise TargetRefused(f"the target host {target.host!r} resolves to no address")
    raise failure


def _text(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")
