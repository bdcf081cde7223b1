"""Which addresses a member-typed URL may reach: the guard's rules, without a socket."""

from __future__ import annotations

import ipaddress

import pytest

from connectors.outbound_guard import AddressRefused, Allowlist, OutboundGuard, refusal


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (a test value, nothing listens)
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "shared"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ],
)
def test_addresses_inside_a_deployment_are_refused(address: str, why: str) -> None:
    reason = refusal(ipaddress.ip_address(address))
    assert reason is not None and why in reason


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_the_allowlist_reads_hosts_addresses_and_ranges() -> None:
    allowed = Allowlist.parse(" cal.example.org, 127.0.0.1 ,10.0.0.0/8,::1 ,")
    assert allowed.hosts == frozenset({"cal.example.org"})
    assert allowed.allows_address(ipaddress.ip_address("10.9.9.9"))
    assert allowed.allows_address(ipaddress.ip_address("::1"))
    assert not allowed.allows_address(ipaddress.ip_address("127.0.0.2"))
    assert Allowlist.parse("") == Allowlist()
    for wrong in ("http://x.example", "*.example.org", "user@host.example", "10.0.0.0/33"):
        with pytest.raises(ValueError):
            Allowlist.parse(wrong)


def test_urls_that_are_not_plain_https_are_refused() -> None:
    guard = OutboundGuard()
    for url in (
        "ftp://cal.example.org/",
        "file:///etc/passwd",
        "https://user:pw@93.184.215.14/",  # pragma: allowlist secret
        "http://93.184.215.14/",
        "https:///nohost",
        "https://93.184.215.14:99999/",
    ):
        with pytest.raises(AddressRefused):
            guard.check_url(url)
    assert guard.check_url("https://93.184.215.14/dav/").address == "93.184.215.14"


def test_a_metadata_address_needs_an_address_entry_not_a_host_name() -> None:
    with pytest.raises(AddressRefused):
        OutboundGuard(Allowlist.parse("169.254.169.254.nip.example")).check_url(
            "https://169.254.169.254/latest/meta-data/"
        )
    guard = OutboundGuard(Allowlist.parse("169.254.169.254/32"))
    assert guard.check_url("https://169.254.169.254/").address == "169.254.169.254"
