"""The SSRF guard's address judgement, for whole classes of addresses and their spellings:
every refused class in every IPv4 spelling inet_aton accepts and every IPv6 form that
embeds an IPv4 address is refused; public addresses pass; the allowlist opens exactly what it
names."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from assistant.net.guard import AddressPolicy, BlockedAddress, is_public, parse_ip

REFUSED_V4 = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "192.0.0.0/24",
    "198.18.0.0/15",
]
REFUSED_V6 = [
    "::1/128",
    "::/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
    "fec0::/10",  # site-local
    "64:ff9b:1::/48",  # NAT64 for local use: a translator into the internal network
]
POLICY = AddressPolicy.of()


def in_network(cidr: str) -> st.SearchStrategy[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    net = ipaddress.ip_network(cidr)
    return st.integers(0, net.num_addresses - 1).map(lambda i: net[i])


refused_v4 = st.one_of(*(in_network(c) for c in REFUSED_V4))
refused_v6 = st.one_of(*(in_network(c) for c in REFUSED_V6))
public_v4 = (
    st.integers(0, 2**32 - 1)
    .map(ipaddress.IPv4Address)
    .filter(
        lambda a: (
            a.is_global and not a.is_multicast and a not in ipaddress.ip_network("192.0.0.0/24")
        )
    )
)


def spell(address: ipaddress.IPv4Address, parts: int, bases: list[str]) -> str:
    """``address`` the way inet_aton reads it: ``parts`` numbers, the last taking the rest."""
    value = int(address)
    octets = [(value >> (8 * (3 - i))) & 0xFF for i in range(parts - 1)]
    last = value & (2 ** (8 * (5 - parts)) - 1)
    out = []
    for n, base in zip([*octets, last], bases, strict=False):
        out.append({"dec": str(n), "oct": "0" + format(n, "o"), "hex": hex(n)}[base])
    return ".".join(out)


spellings = st.tuples(
    st.integers(1, 4), st.lists(st.sampled_from(["dec", "oct", "hex"]), min_size=4, max_size=4)
)


@given(refused_v4, spellings)
def test_every_spelling_of_a_refused_ipv4_address_is_refused(address, spelling):
    parts, bases = spelling
    text = spell(address, parts, bases)
    assert parse_ip(text) == address
    with pytest.raises(BlockedAddress):
        POLICY.check_url(URL.build(scheme="http", host=text, encoded=True))


@given(refused_v4)
def test_ipv6_forms_of_refused_ipv4_addresses_are_refused(address):
    packed = int(address)
    forms = [
        f"::ffff:{address}",  # mapped
        f"::{address}",  # compatible
        str(ipaddress.IPv6Address((0x2002 << 112) | (packed << 80))),  # 6to4
        str(ipaddress.IPv6Address((0x64FF9B << 96) | packed)),  # NAT64
        str(ipaddress.IPv6Address((0x64FF9B0001 << 80) | packed)),  # NAT64, local use (/48)
        f"::ffff:0:{address}",  # translated (SIIT)
        str(ipaddress.IPv6Address((0x20010000 << 96) | (0xFFFFFFFF ^ packed))),  # Teredo client
    ]
    for form in forms:
        parsed = parse_ip(form)
        assert parsed is not None
        assert not is_public(parsed), form
        with pytest.raises(BlockedAddress):
            POLICY.check_url(URL(f"http://[{form}]:8080/"))


@given(refused_v6)
def test_refused_ipv6_ranges(address):
    assert not is_public(address)
    assert not POLICY.allows(address)


@given(public_v4)
def test_public_addresses_pass(address):
    assert is_public(address)
    POLICY.check_url(URL(f"http://{address}/"))
    assert POLICY.allows(ipaddress.ip_address(f"::ffff:{address}"))


@pytest.mark.parametrize(
    "text",
    [
        "169.254.169.254",
        "[fd00:ec2::254]",
        "[::ffff:169.254.169.254]",
        "[::ffff:a9fe:a9fe]",
        "2852039166",  # 169.254.169.254 in decimal
        "0xa9fea9fe",
        "0251.0376.0251.0376",
        "127.1",
        "0",
        "0x7f.1",
        "[::]",
        "[fe80::1%25eth0]",
    ],
)
def test_known_metadata_and_loopback_spellings(text):
    assert parse_ip(text) is not None, text
    with pytest.raises(BlockedAddress):
        POLICY.check_url(URL(f"http://{text}/"))


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/", "gopher://x/", "http:///x"]
)
def test_only_http_and_https(url):
    with pytest.raises(BlockedAddress):
        POLICY.check_url(URL(url))


@pytest.mark.parametrize("name", ["example.com", "1.example", "0x.com", "127.0.0.1.nip.io", "09.1"])
def test_names_are_not_addresses(name):
    assert parse_ip(name) is None


def test_the_allowlist_opens_exactly_what_it_names():
    policy = AddressPolicy.of(hosts=["nas.lan"], networks=["10.1.2.0/24", "fd12::/64"])
    assert policy.allows(ipaddress.ip_address("10.1.2.7"))
    assert policy.allows(ipaddress.ip_address("::ffff:10.1.2.7"))
    assert not policy.allows(ipaddress.ip_address("10.1.3.7"))
    assert policy.allows(ipaddress.ip_address("fd12::5"))
    assert not policy.allows(ipaddress.ip_address("fd13::5"))
    assert policy.allows(ipaddress.ip_address("192.168.1.1"), "NAS.lan.")
    assert not policy.allows(ipaddress.ip_address("192.168.1.1"), "other.lan")
    policy.check_url(URL("http://10.1.2.7/"))
