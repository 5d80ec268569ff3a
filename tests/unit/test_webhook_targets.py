"""A delivery connects only to the addresses its target check approved (no DNS rebinding),
still names the target's host (Host header, TLS server name and certificate), and reads
only a bounded part of the answer: delivery/targets.py, without a database."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from delivery import targets
from delivery.targets import (
    ApprovedTarget,
    TargetPolicy,
    TargetRefused,
    approve_target,
    check_target,
    pinned_request,
    post_pinned,
    read_capped,
)

PUBLIC = ipaddress.ip_address("93.184.215.14")
OTHER_PUBLIC = ipaddress.ip_address("2606:2800:21f:cb07:6820:80da:af6b:8b2c")
LOOPBACK = ipaddress.ip_address("127.0.0.1")
HEADERS = {"webhook-id": "msg_1", "content-type": "application/cloudevents-batch+json"}


def approved(url: str, *addresses: Any) -> ApprovedTarget:
    parts = httpx.URL(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return ApprovedTarget(url, parts.scheme, parts.host, port, tuple(addresses))


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """What each host name resolves to; every look-up is counted in answers['asked']."""
    table: dict[str, list[Any]] = {"asked": []}

    async def resolve(host: str, port: int) -> list[Any]:
        table["asked"].append(host)
        return list(table[host])

    monkeypatch.setattr(targets, "resolve", resolve)
    return table


@pytest.mark.parametrize(
    ("url", "address", "sent_to", "host", "sni"),
    [
        ("http://hooks.example.org/in", PUBLIC, "http://93.184.215.14/in", "hooks.example.org",
         "hooks.example.org"),
        ("https://Hooks.Example.org:8443/in?x=1", PUBLIC, "https://93.184.215.14:8443/in?x=1",
         "hooks.example.org:8443", "hooks.example.org"),
        ("https://hooks.example.org/in", OTHER_PUBLIC,
         f"https://[{OTHER_PUBLIC}]/in", "hooks.example.org", "hooks.example.org"),
        ("https://bücher.example/in", PUBLIC, "https://93.184.215.14/in",
         "xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("https://93.184.215.14/in", PUBLIC, "https://93.184.215.14/in", "93.184.215.14",
         "93.184.215.14"),
    ],
)  # fmt: skip
async def test_the_request_goes_to_the_address_and_names_the_host(
    url: str, address: Any, sent_to: str, host: str, sni: str
) -> None:
    async with httpx.AsyncClient() as http:
        request = pinned_request(
            http, approved(url, address), address, content=b"[]", headers=HEADERS
        )
    assert str(request.url) == sent_to
    assert request.headers["host"] == host
    assert request.extensions["sni_hostname"] == sni
    assert request.headers["webhook-id"] == "msg_1"
    assert request.headers["accept-encoding"] == "identity"


async def test_every_resolved_address_must_be_allowed(answers: dict[str, list[Any]]) -> None:
    answers["hooks.example.org"] = [PUBLIC, ipaddress.ip_address("10.0.0.7"), PUBLIC]
    with pytest.raises(TargetRefused, match=r"10\.0\.0\.7"):
        await approve_target("https://hooks.example.org/in", TargetPolicy())
    answers["hooks.example.org"] = [PUBLIC, OTHER_PUBLIC, PUBLIC]
    target = await approve_target("https://hooks.example.org/in", TargetPolicy())
    assert target.addresses == (PUBLIC, OTHER_PUBLIC)
    assert (target.host, target.port) == ("hooks.example.org", 443)


async def test_a_host_allowed_by_name_is_pinned_too(answers: dict[str, list[Any]]) -> None:
    policy = TargetPolicy(schemes=("http",), allow_hosts=("crm.corp.example",))
    answers["crm.corp.example"] = [ipaddress.ip_address("10.20.0.5")]
    await check_target("http://crm.corp.example/in", policy)
    assert answers["asked"] == []  # the API's check does not need it to resolve
    target = await approve_target("http://crm.corp.example/in", policy)
    assert target.addresses == (ipaddress.ip_address("10.20.0.5"),)
    assert answers["asked"] == ["crm.corp.example"]


async def test_the_post_resolves_nothing_and_tries_the_next_approved_address() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == str(OTHER_PUBLIC):
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(302, headers={"location": "http://169.254.169.254/"}, text="moved")

    target = approved("https://hooks.example.org/in", OTHER_PUBLIC, PUBLIC)
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        status, text = await post_pinned(http, target, content=b"[]", headers=HEADERS)
    assert (status, text) == (302, "moved")  # a redirect is an answer, never followed
    assert [r.url.host for r in seen] == [str(OTHER_PUBLIC), str(PUBLIC)]
    assert {r.headers["host"] for r in seen} == {"hooks.example.org"}
    assert seen[1].content == b"[]"


async def test_only_the_first_bytes_of_an_answer_are_read() -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b"y" * 1_000_000

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=endless())

    target = approved("http://hooks.example.org/in", PUBLIC)
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        status, text = await post_pinned(http, target, content=b"[]", headers=HEADERS, limit=1500)
    assert status == 500 and text == "y" * 1500
    assert pulled == 1

    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b"ab", b"cd", b"ef"):
            yield piece

    assert await read_capped(httpx.Response(200, content=pieces()), 3) == b"abc"


def _certificates(name: str) -> tuple[bytes, bytes, bytes]:
    """(CA certificate, leaf certificate for `name`, leaf key), all PEM."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "entente test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem = serialization.Encoding.PEM
    return ca.public_bytes(pem), leaf.public_bytes(pem), key_pem


async def test_https_is_verified_against_the_name_while_connecting_to_the_address(
    tmp_path: Any,
) -> None:
    """A TLS receiver on 127.0.0.1 with a certificate for hooks.entente.test only: reached
    at the pinned address it sees the name as SNI and Host, and the certificate is checked
    against the name, so a target of another name is refused by that same certificate."""
    ca, leaf, key = _certificates("hooks.entente.test")
    (tmp_path / "leaf.pem").write_bytes(leaf)
    (tmp_path / "key.pem").write_bytes(key)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "key.pem")
    names: list[str | None] = []

    def sni(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        names.append(name)

    server_tls.sni_callback = sni
    hosts: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            hosts.extend(line[5:].strip() for line in lines if line.lower().startswith(b"host:"))
            length = next(
                int(line[15:]) for line in lines if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_tls)
    port = server.sockets[0].getsockname()[1]
    client_tls = ssl.create_default_context(cadata=ca.decode("ascii"))
    try:
        async with httpx.AsyncClient(verify=client_tls, timeout=5) as http:
            good = approved(f"https://hooks.entente.test:{port}/in", LOOPBACK)
            status, _ = await post_pinned(http, good, content=b"[]", headers=HEADERS)
            assert status == 204
            assert names == ["hooks.entente.test"]
            assert hosts == [f"hooks.entente.test:{port}".encode()]
            wrong = approved(f"https://other.entente.test:{port}/in", LOOPBACK)
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await post_pinned(http, wrong, content=b"[]", headers=HEADERS)
    finally:
        server.close()


@pytest.mark.parametrize(
    "literal",
    [
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
        "[2002:a9fe:a9fe::]",  # 6to4 of 169.254.169.254 (cloud metadata)
        "[2002:a00:7::]",  # 6to4 of 10.0.0.7
        "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
        "[64:ff9b::a00:7]",  # NAT64 of 10.0.0.7
        "[::ffff:127.0.0.1]",
        "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    ],
)
async def test_an_ipv6_address_carrying_an_internal_ipv4_one_is_refused(literal):
    with pytest.raises(TargetRefused):
        await check_target(f"https://{literal}/hook", TargetPolicy())


async def test_an_ipv6_address_carrying_a_public_ipv4_one_is_allowed():
    await check_target("https://[2002:5db8:d70e::]/hook", TargetPolicy())  # 6to4 of PUBLIC
