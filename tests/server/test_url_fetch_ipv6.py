"""IPv6 forms that embed an IPv4 address are judged by the IPv4 address they embed (issue 10)."""

from __future__ import annotations

import ipaddress

import pytest

from winnow.errors import ForbiddenURLError
from winnow.server.url_fetch import UrlFetchPolicy, embedded_ipv4, fetch_url, refusal_reason

# Teredo: 2001:0:<server>:<flags>:<port>:<client XOR ffff:ffff>; server 65.54.227.120 (public).
TEREDO = "2001:0:4136:e378:8000:63bf:"

# (address, allow_private, expected reason: None when the address may be fetched from)
CASES = [
    # 6to4 2002:<v4>::/48
    ("2002:7f00:1::", False, "a 6to4 address embedding 127.0.0.1, a loopback address"),
    ("2002:a9fe:a9fe::1", False, "a 6to4 address embedding 169.254.169.254, a cloud metadata"),
    ("2002:a9fe:101::", False, "a 6to4 address embedding 169.254.1.1, a link-local address"),
    ("2002:c0a8:101::", False, "a 6to4 address embedding 192.168.1.1, a private address"),
    ("2002:a00:1::", True, None),
    ("2002:808:808::", False, None),
    # NAT64 well-known 64:ff9b::/96 and local-use 64:ff9b:1::/48
    ("64:ff9b::7f00:1", False, "a NAT64 address embedding 127.0.0.1, a loopback address"),
    ("64:ff9b::a00:1", False, "a NAT64 address embedding 10.0.0.1, a private address"),
    ("64:ff9b::a9fe:a9fe", True, "a NAT64 address embedding 169.254.169.254, a cloud metadata"),
    ("64:ff9b::808:808", False, None),
    ("64:ff9b:1::7f00:1", False, "a NAT64 address embedding 127.0.0.1, a loopback address"),
    ("64:ff9b:1::808:808", False, "a local-use NAT64 address"),
    ("64:ff9b:1::808:808", True, None),
    # Teredo 2001::/32: server and (obfuscated) client both judged
    (TEREDO + "80ff:fffe", False, "a Teredo address embedding 127.0.0.1, a loopback address"),
    (TEREDO + "f5ff:fffe", False, "a Teredo address embedding 10.0.0.1, a private address"),
    ("2001:0:7f00:1:8000:63bf:f7f7:f7f7", False, "a Teredo address embedding 127.0.0.1"),
    (TEREDO + "f7f7:f7f7", False, None),
    # IPv4-mapped ::ffff:0:0/96
    ("::ffff:127.0.0.1", False, "an IPv4-mapped address embedding 127.0.0.1, a loopback"),
    ("::ffff:169.254.169.254", True, "embedding 169.254.169.254, a cloud metadata address"),
    ("::ffff:172.16.0.1", False, "an IPv4-mapped address embedding 172.16.0.1, a private"),
    ("::ffff:8.8.8.8", False, None),
    # IPv4-compatible ::/96 (deprecated): refused whatever it embeds
    ("::127.0.0.1", False, "an IPv4-compatible address embedding 127.0.0.1, a loopback"),
    ("::169.254.0.1", False, "an IPv4-compatible address embedding 169.254.0.1, a link-local"),
    ("::8.8.8.8", False, "a reserved address"),
    # Plain IPv6 keeps its own verdict
    ("::1", False, "a loopback address"),
    ("::", False, "an unspecified address"),
    ("fe80::1", False, "a link-local address"),
    ("2606:4700:4700::1111", False, None),
]


@pytest.mark.parametrize(("address", "allow_private", "expected"), CASES)
def test_embedded_ipv4_decides(address: str, allow_private: bool, expected: str | None) -> None:
    reason = refusal_reason(ipaddress.ip_address(address), allow_private=allow_private)
    if expected is None:
        assert reason is None, reason
    else:
        assert reason is not None and expected in reason, reason


@pytest.mark.parametrize(
    ("address", "forms"),
    [
        ("2002:7f00:1::", [("a 6to4", "127.0.0.1")]),
        (TEREDO + "80ff:fffe", [("a Teredo", "65.54.227.120"), ("a Teredo", "127.0.0.1")]),
        ("64:ff9b::c0a8:1", [("a NAT64", "192.168.0.1")]),
        ("::ffff:1.2.3.4", [("an IPv4-mapped", "1.2.3.4")]),
        ("::1.2.3.4", [("an IPv4-compatible", "1.2.3.4")]),
        ("::1", []),
        ("2606:4700::1", []),
    ],
)
def test_embedded_ipv4_finds_each_form(address: str, forms: list[tuple[str, str]]) -> None:
    found = embedded_ipv4(ipaddress.IPv6Address(address))
    assert [(form, str(ipv4)) for form, ipv4 in found] == forms


@pytest.mark.parametrize("address", ["2002:7f00:1::", "64:ff9b::7f00:1", TEREDO + "80ff:fffe"])
def test_a_host_resolving_to_an_embedding_form_is_refused_before_connecting(address: str) -> None:
    def resolver(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return [ipaddress.ip_address(address)]

    with pytest.raises(ForbiddenURLError, match=r"embedding 127\.0\.0\.1, a loopback address"):
        fetch_url("http://images.example/x.jpg", UrlFetchPolicy(), resolver=resolver)
