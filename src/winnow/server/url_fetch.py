"""Downloading ``type: url`` images without becoming a proxy into private networks.

The host of the URL is resolved once; every resolved address must be public
(not loopback, private, link-local, multicast, reserved, unspecified, shared
or a cloud metadata address; an IPv6 form that embeds an IPv4 address,
IPv4-mapped, IPv4-compatible, 6to4, Teredo or NAT64, is judged by the IPv4
address it embeds) unless the host is allow-listed or private
addresses are allowed by a setting. The connection then goes to the address
that was checked (the URL's host only travels in the ``Host`` header and as
TLS server name), so a second DNS answer cannot redirect the download
(DNS rebinding). Redirects are followed by hand, each hop checked again.
Size and time are capped: a download over ``max_bytes`` is a 413, anything
else that goes wrong is a 400 whose message says why.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from winnow.errors import BadRequestError, ForbiddenURLError, PayloadTooLargeError
from winnow.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[IPAddress]]

# Cloud metadata endpoints; refused even when private addresses are allowed.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
    }
)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (RFC 6052 well-known
# and RFC 8215 local-use NAT64; a /48 operator prefix may also place it lower, so the
# local-use prefix counts as private below whatever it embeds).
NAT64_PREFIXES = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
MAX_REDIRECTS = 5


@dataclass(frozen=True, slots=True)
class UrlFetchPolicy:
    """What an image URL may point to, and how much and how long we download."""

    allow_hosts: frozenset[str] = frozenset()
    allow_private: bool = False
    max_bytes: int = 20 * 1024 * 1024
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlFetchPolicy:
        """The policy the settings describe (``url_fetch_*``)."""
        return cls(
            allow_hosts=frozenset(h.lower() for h in settings.url_fetch_allow_hosts),
            allow_private=settings.url_fetch_allow_private,
            max_bytes=settings.url_fetch_max_bytes,
            timeout=settings.url_fetch_timeout,
        )


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (IPv4 and IPv6), in resolver order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BadRequestError(f"image URL host {host!r} cannot be resolved: {exc}") from None
    out: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in out:
            out.append(address)
    return out


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """(form, IPv4 address) for each IPv4 address ``address`` embeds; empty for plain IPv6.

    Forms: IPv4-mapped ``::ffff:0:0/96``, 6to4 ``2002::/16``, Teredo
    ``2001::/32`` (server and client), NAT64 ``64:ff9b::/96`` and
    ``64:ff9b:1::/48``, IPv4-compatible ``::/96`` (but not ``::`` and ``::1``).
    """
    if address.ipv4_mapped is not None:
        return [("an IPv4-mapped", address.ipv4_mapped)]
    if address.sixtofour is not None:
        return [("a 6to4", address.sixtofour)]
    if address.teredo is not None:
        server, client = address.teredo
        return [("a Teredo", server), ("a Teredo", client)]
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in prefix for prefix in NAT64_PREFIXES):
        return [("a NAT64", low)]
    if int(address) >> 32 == 0 and int(address) > 1:
        return [("an IPv4-compatible", low)]
    return []


def refusal_reason(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why ``address`` may not be fetched from, or None when it may.

    An IPv6 address that embeds IPv4 addresses is refused when any of them
    is, with a reason that names the form and the embedded address.
    """
    if isinstance(address, ipaddress.IPv6Address):
        decided, reason = _ipv6_refusal(address, allow_private=allow_private)
        if decided:
            return reason
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    private_kind = _private_kind(address)
    if private_kind is not None:
        return None if allow_private else private_kind
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return None if allow_private else "a non-public address"
    return None


def _ipv6_refusal(
    address: ipaddress.IPv6Address, *, allow_private: bool
) -> tuple[bool, str | None]:
    """(decided, reason) for the IPv6-only rules; undecided leaves the common rules to run."""
    embedded = embedded_ipv4(address)
    for form, ipv4 in embedded:
        reason = refusal_reason(ipv4, allow_private=allow_private)
        if reason is not None:
            return True, f"{form} address embedding {ipv4}, {reason}"
    if address in NAT64_PREFIXES[1] and not allow_private:
        return True, "a local-use NAT64 address (64:ff9b:1::/48)"
    if embedded and embedded[0][0] != "an IPv4-compatible":
        # Mapped, 6to4, Teredo and NAT64 reach the public IPv4 address they embed;
        # their own prefixes' reserved or private status says nothing more.
        return True, None
    return False, None


def _private_kind(address: IPAddress) -> str | None:
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    return None


def _check_target(
    url: str, policy: UrlFetchPolicy, resolver: Resolver
) -> tuple[str, int, str, IPAddress]:
    """Validate the URL; return (scheme, port, host, checked address)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadRequestError(f"image URL is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise ForbiddenURLError(
            f"image URL scheme {parts.scheme or '(none)'!r} is not allowed; use http or https"
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise BadRequestError(f"image URL {url!r} has no host")
    if parts.username or parts.password:
        raise ForbiddenURLError("image URL must not carry credentials")
    port = port or (443 if scheme == "https" else 80)
    allow_listed = host in policy.allow_hosts
    if host in METADATA_HOSTS and not allow_listed:
        raise ForbiddenURLError(f"image URL host {host!r} is a cloud metadata host; refused")
    addresses = resolver(host, port)
    if not addresses:
        raise BadRequestError(f"image URL host {host!r} resolves to no address")
    if not allow_listed:
        for address in addresses:
            reason = refusal_reason(address, allow_private=policy.allow_private)
            if reason is not None:
                raise ForbiddenURLError(
                    f"image URL host {host!r} resolves to {address}, {reason}; refused "
                    "(allow it with WINNOW_URL_FETCH_ALLOW_HOSTS)"
                )
    return scheme, port, host, addresses[0]


def _pinned_request(
    client: httpx.Client, url: str, scheme: str, port: int, host: str, address: IPAddress
) -> httpx.Request:
    """A GET to ``address`` that carries ``host`` as Host header and TLS server name."""
    parts = urlsplit(url)
    ip_text = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    default_port = 443 if scheme == "https" else 80
    netloc = ip_text if port == default_port else f"{ip_text}:{port}"
    target = parts._replace(netloc=netloc, fragment="").geturl()
    host_header = host if port == default_port else f"{host}:{port}"
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    return client.build_request(
        "GET",
        target,
        headers={"Host": host_header, "Accept": "image/*"},
        extensions=extensions,
    )


def fetch_url(
    url: str,
    policy: UrlFetchPolicy,
    *,
    resolver: Resolver = system_resolver,
    transport: httpx.BaseTransport | None = None,
) -> bytes:
    """Download the image at ``url`` under ``policy``; return its bytes.

    Raises :class:`ForbiddenURLError` (400) for a refused scheme or address,
    :class:`PayloadTooLargeError` (413) when the body exceeds
    ``policy.max_bytes``, and :class:`BadRequestError` (400) for any other
    failure (unresolvable host, connection error, timeout, HTTP error status).
    """
    deadline = time.monotonic() + policy.timeout
    timeout = httpx.Timeout(policy.timeout)
    with httpx.Client(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    ) as client:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            scheme, port, host, address = _check_target(current, policy, resolver)
            request = _pinned_request(client, current, scheme, port, host, address)
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException:
                raise BadRequestError(
                    f"image URL download timed out after {policy.timeout:g} s"
                ) from None
            except httpx.HTTPError as exc:
                raise BadRequestError(f"image URL could not be downloaded: {exc}") from None
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    current = urljoin(current, location)
                    continue
                if response.status_code >= 400:
                    raise BadRequestError(
                        f"image URL answered HTTP {response.status_code}; no image downloaded"
                    )
                return _read_capped(response, policy, deadline)
            finally:
                response.close()
        raise BadRequestError(f"image URL redirected more than {MAX_REDIRECTS} times")


def _read_capped(response: httpx.Response, policy: UrlFetchPolicy, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > policy.max_bytes:
        raise PayloadTooLargeError(
            f"image URL body is {declared} bytes, over the limit of {policy.max_bytes}"
        )
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > policy.max_bytes:
                raise PayloadTooLargeError(
                    f"image URL body exceeds the limit of {policy.max_bytes} bytes"
                )
            if time.monotonic() > deadline:
                raise BadRequestError(f"image URL download timed out after {policy.timeout:g} s")
            chunks.append(chunk)
    except httpx.TimeoutException:
        raise BadRequestError(f"image URL download timed out after {policy.timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise BadRequestError(f"image URL could not be downloaded: {exc}") from None
    return b"".join(chunks)
