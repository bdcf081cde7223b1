"""Outgoing HTTP to an address a member typed (a CalDAV server, an ICS feed): the SSRF guard.

The gateway runs inside a deployment; a member who can make it fetch any URL could reach its
Redis, its cloud's metadata service or an intranet. So every request to such an address:
- may only be https, or plain http to loopback (which itself needs the allowlist);
- resolves the host once, refuses it when any address it resolves to is loopback,
  private, link-local, multicast, unspecified, reserved, shared (CGNAT) or a cloud
  metadata address, unless `GATEWAY_OUTBOUND_ALLOWLIST` allows it, and then connects to
  exactly that checked address (pinned: no second DNS lookup between check and connect,
  so DNS rebinding cannot swap it), keeping the host name for SNI, the certificate check
  and the `Host` header;
- follows at most `MAX_REDIRECTS` redirects itself, checking each target the same way
  (and dropping credentials when the origin changes);
- goes through `HTTPS_PROXY` when it is set (as every provider call, connectors/http.py),
  tunnelled with CONNECT to the checked address, never the name, so the proxy cannot
  resolve it anew; plain http (loopback only) never goes through a proxy;
- is cut off past `MAX_RESPONSE_BYTES` (or the session's own `max_bytes`: an ICS feed
  is bigger than a CalDAV answer) of (decoded) body or `TOTAL_SECONDS` for the whole
  chain, and each connect or read waits at most what is left of that.

The allowlist names host names (exact), addresses or CIDR ranges. A host-name entry lets
that host's addresses through; a cloud-metadata address needs an address or range entry.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from connectors.errors import ConnectorError, ProviderUnavailable
from connectors.http import environment_proxies

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 3
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
TOTAL_SECONDS = 10.0
CONNECT_SECONDS = 3.0
READ_SECONDS = 8.0
READ_CHUNK = 64 * 1024

# Instance metadata services: AWS/GCP/Azure/OpenStack, AWS over IPv6, ECS task metadata,
# Alibaba, Oracle. Most are link-local already; listed so none depends on that.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.253",
        "fd00:ec2::254",
        "fd00:ec2::23",
        "100.100.100.200",
        "192.0.0.192",
    )
)
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(ConnectorError):
    """The address may not be reached from the gateway; the message is safe to show."""

    code = "address_refused"


@dataclass(frozen=True)
class Allowlist:
    """`GATEWAY_OUTBOUND_ALLOWLIST`: host names, addresses and CIDR ranges let through."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> Allowlist:
        """Raises ValueError (one line) on an entry that is none of the three."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in (text or "").split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            label = entry.rstrip(".")
            if (
                not label
                or any(c in label for c in "/:@*[] ")
                or ("." not in label and label != "localhost")
            ):
                raise ValueError(f"not a host name, address or CIDR range: {raw.strip()!r}")
            hosts.add(label)
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)


def _unwrapped(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped or NAT64 IPv6 one (else the address)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(address: IPAddress) -> str | None:
    """Why `address` may not be reached without the allowlist; None for a public one."""
    inner = _unwrapped(address)
    for candidate in dict.fromkeys((inner, address)):
        if candidate in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if candidate.is_loopback:
            return "a loopback address"
        if candidate.is_link_local:
            return "a link-local address"
        if candidate.is_multicast:
            return "a multicast address"
        if candidate.is_unspecified:
            return "an unspecified address"
        if candidate.is_reserved:
            return "a reserved address"
        if candidate.version == 4 and candidate in SHARED_ADDRESS_SPACE:
            return "a shared (carrier-grade NAT) address"
        if candidate.is_private or not candidate.is_global:
            return "a private address"
    return None


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to `address`, speak to `host` (SNI, certificate, Host)."""

    scheme: str
    host: str
    port: int
    address: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ProviderUnavailable("the server's host name does not resolve") from None
    found: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone
        address = ipaddress.ip_address(text)
        if address not in found:
            found.append(address)
    if not found:
        raise ProviderUnavailable("the server's host name does not resolve")
    return found


class OutboundGuard:
    """Checks URLs against the rules above; one per configured allowlist."""

    def __init__(self, allowlist: Allowlist | None = None) -> None:
        self.allowlist = allowlist or Allowlist()

    def check_url(self, url: str) -> Target:
        """The pinned target of `url`; raises `AddressRefused` (or `ProviderUnavailable`
        when the name does not resolve)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise AddressRefused("That address is not a valid URL.") from None
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").rstrip(".")
        if scheme not in ("https", "http") or not host:
            raise AddressRefused("The address must be an https:// URL.")
        if parts.username is not None or parts.password is not None:
            raise AddressRefused("The address may not hold a user name or password.")
        port = port or (443 if scheme == "https" else 80)
        addresses = _resolve(host, port)
        named = self.allowlist.allows_host(host)
        for address in addresses:
            reason = refusal(address)
            if reason is None:
                continue
            by_address = self.allowlist.allows_address(address)
            metadata = _unwrapped(address) in METADATA_ADDRESSES or address in METADATA_ADDRESSES
            if by_address or (named and not metadata):
                continue
            raise AddressRefused(f"That server's address is {reason}, which is not allowed.")
        if scheme == "http" and not all(_unwrapped(a).is_loopback for a in addresses):
            raise AddressRefused("The address must be an https:// URL.")
        return Target(scheme, host, port, str(addresses[0]))


class _PinnedAdapter(HTTPAdapter):
    """Connects to the address the guard checked, never to a fresh DNS answer; TLS still
    names and verifies the host (SNI and certificate), and the Host header keeps it."""

    def __init__(self, guard: OutboundGuard, session: GuardedSession) -> None:
        super().__init__(pool_connections=4, pool_maxsize=4, max_retries=0)
        self.guard = guard
        self.session = session

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        target: Target = request.pinned_target  # type: ignore[attr-defined]
        host_params["host"] = target.address
        host_params["port"] = target.port
        if target.scheme == "https":
            pool_kwargs["server_hostname"] = target.host
            pool_kwargs["assert_hostname"] = target.host
        return host_params, pool_kwargs

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        deadline = self.session.deadline()
        target = self.guard.check_url(str(request.url))
        request.pinned_target = target  # type: ignore[attr-defined]
        request.headers["Host"] = target.host_header
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProviderUnavailable("the server took too long")
        bounded = (min(CONNECT_SECONDS, left), min(READ_SECONDS, left))
        try:
            proxies = environment_proxies(str(request.url)) if target.scheme == "https" else {}
            response = super().send(request, True, bounded, verify, cert, proxies or None)
        except requests.RequestException as error:
            raise ProviderUnavailable(
                f"the server did not answer ({type(error).__name__})"
            ) from None
        response._content = _read_bounded(response, deadline, self.session.max_bytes)
        return response


def _read_bounded(response: requests.Response, deadline: float, max_bytes: int) -> bytes:
    """The whole (decoded) body, or `ProviderUnavailable` past the size (code
    `too_large`) or the deadline."""
    raw = response.raw
    chunks: list[bytes] = []
    total = 0
    try:
        while True:
            if time.monotonic() > deadline:
                raise ProviderUnavailable("the server took too long")
            read1 = getattr(raw, "read1", None)
            chunk = (
                read1(READ_CHUNK, decode_content=True)
                if read1
                else raw.read(READ_CHUNK, decode_content=True)
            )
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise ProviderUnavailable("the server's answer is too large", code="too_large")
            chunks.append(chunk)
    except (OSError, requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(
            f"the server's answer broke off ({type(error).__name__})"
        ) from None
    except Exception as error:  # urllib3's ProtocolError, DecodeError, ReadTimeoutError
        if isinstance(error, ProviderUnavailable):
            raise
        raise ProviderUnavailable(
            f"the server's answer broke off ({type(error).__name__})"
        ) from None
    finally:
        response.close()
    return b"".join(chunks)


class GuardedSession(requests.Session):
    """A requests session for member-typed addresses: every request, every redirect and
    every retry an auth handler sends goes through the guard (see the module docstring)."""

    def __init__(
        self,
        guard: OutboundGuard,
        ca_bundle: str | None = None,
        total_seconds: float = TOTAL_SECONDS,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.trust_env = False  # no proxy, netrc or CA bundle from the environment
        self.verify = ca_bundle or True
        self.max_redirects = MAX_REDIRECTS
        self.total_seconds = total_seconds
        self._deadline: float | None = None
        adapter = _PinnedAdapter(guard, self)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def deadline(self) -> float:
        return (
            self._deadline if self._deadline is not None else time.monotonic() + self.total_seconds
        )

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Follow redirects here (checked per hop), within one deadline for the chain."""
        outer = self._deadline is None
        if outer:
            self._deadline = time.monotonic() + self.total_seconds
        kwargs["allow_redirects"] = False
        kwargs.pop("proxies", None)
        try:
            response = super().send(request, **kwargs)
            hops = 0
            while response.is_redirect and outer:
                hops += 1
                if hops > MAX_REDIRECTS:
                    raise ProviderUnavailable("the server redirected too often")
                request = _next_hop(request, response)
                response = super().send(request, **kwargs)
            return response
        finally:
            if outer:
                self._deadline = None


def _next_hop(
    request: requests.PreparedRequest, response: requests.Response
) -> requests.PreparedRequest:
    location = response.headers.get("location") or ""
    following = request.copy()
    following.url = urljoin(str(request.url), location)
    old, new = urlsplit(str(request.url)), urlsplit(following.url)
    if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
        following.headers.pop("Authorization", None)
        following.headers.pop("Cookie", None)
    if response.status_code == 303:
        following.method = "GET"
        following.body = None
        for name in ("Content-Type", "Content-Length", "Transfer-Encoding"):
            following.headers.pop(name, None)
    following.headers.pop("Host", None)
    return following


def guarded_session(
    allowlist: Iterable[str] | str | None, ca_bundle: str | None = None
) -> GuardedSession:
    """A session for the given allowlist text (as in `GATEWAY_OUTBOUND_ALLOWLIST`)."""
    text = allowlist if isinstance(allowlist, str) or allowlist is None else ",".join(allowlist)
    return GuardedSession(OutboundGuard(Allowlist.parse(text)), ca_bundle)
