"""Which addresses a member-typed URL may reach: the SSRF guard's address rules.

`OutboundGuard.check_url` resolves the host once and refuses it when any address it
resolves to is loopback, private, link-local, multicast, unspecified, reserved, shared
(CGNAT) or a cloud metadata address, unless `GATEWAY_OUTBOUND_ALLOWLIST` allows it; what it
returns (`Target`) is the one checked address the session then connects to (pinned,
connectors/outbound.py). Only https passes, or plain http to loopback (which itself needs
the allowlist).

The allowlist names host names (exact), addresses or CIDR ranges. A host-name entry lets
that host's addresses through; a cloud-metadata address needs an address or range entry.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from connectors.errors import ConnectorError, ProviderUnavailable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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
