"""`show vpn ike sa` / `show vpn ipsec sa` forms the fixtures do not cover (written after
vyos-1x vpn_ike_sa.py and op_mode/ipsec.py and vyatta-op-vpn OPMode.pm)."""

from __future__ import annotations

import pytest

from tests.parsers._fixtures import sample_text
from vpnwatch.errors import ParseError
from vpnwatch.model import IkeSa, IpsecSa
from vpnwatch.parsers import EmptyOutput, ServiceNotRunning, parse_ike_sa, parse_ipsec_sa
from vpnwatch.parsers.ipsec import perl_bytes_lower_bound, table_bytes_lower_bound

# VyOS 1.3.x on AWS: IKEVer column, lower-case algorithms, "2(MODP_1024)" groups.
VYOS13_IKE = sample_text("vyos13-ike-sa-aws-two-peers-down.txt")


def test_vyos13_ike_table_with_descriptions_and_a_down_peer() -> None:
    assert parse_ike_sa(VYOS13_IKE).ike_sas == (
        IkeSa(
            "13.112.28.41",
            "10.1.1.226",
            "up",
            "IKEv2",
            "aes128",
            "sha1_96",
            "2(MODP_1024)",
            3600,
            28800,
        ),
        IkeSa("13.114.15.204", "10.1.1.226", "down", "IKEv1", None, None, None, 0, 28800),
    )


# VyOS 1.4 with identities on an AWS peer whose local id is the EIP (NAT).
VYOS14_IKE_IDS = """\
Peer ID / IP                            Local ID / IP
------------                            -------------
3.230.21.112 3.230.21.112               10.113.129.113 23.23.46.168

    State  IKEVer  Encrypt      Hash               D-H Group  NAT-T  A-Time  L-Time
    -----  ------  -------      ----               ---------  -----  ------  ------
    up     IKEv2   AES_CBC_256  HMAC_SHA2_256_128  ECP_256    yes    4987    22920
"""


def test_vyos14_ike_peer_and_local_with_ids() -> None:
    (sa,) = parse_ike_sa(VYOS14_IKE_IDS).ike_sas
    assert (sa.peer, sa.local, sa.dh_group, sa.uptime_seconds) == (
        "3.230.21.112",
        "10.113.129.113",
        "ECP_256",
        4987,
    )


# VyOS 1.3 `show vpn ipsec sa` (tabulate): an SA installed this second has an empty Uptime
# cell; missing counters print N/A.
VYOS13_IPSEC = sample_text("vyos13-ipsec-sa-empty-uptime-na-cells.txt")


def test_vyos13_ipsec_table_empty_uptime_and_na_cells() -> None:
    assert parse_ipsec_sa(VYOS13_IPSEC).ipsec_sas == (
        IpsecSa("peer-13.112.28.41-tunnel-vti", "13.112.28.41", "up", 1024, 2 * 1024**2, 0),
        IpsecSa("peer-13.114.15.204-tunnel-vti", None, "down", None, None, None),
    )


def test_table_without_rows_is_an_empty_list() -> None:
    header_only = "\n".join(VYOS13_IPSEC.splitlines()[:2]) + "\n"
    assert parse_ipsec_sa(header_only).ipsec_sas == ()


PERL_DOWN = sample_text("vyos12-ipsec-sa-down-tunnel-large-counters.txt")


def test_perl_down_tunnel_and_large_counters() -> None:
    assert parse_ipsec_sa(PERL_DOWN).ipsec_sas == (
        IpsecSa("peer-52.1.2.3-tunnel-vti", "52.1.2.3", "down", None, None, 0),
        IpsecSa("peer-52.1.2.3-tunnel-1", "52.1.2.3", "up", 1048423, 1556925645, 12),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0", 0),
        ("192.0", 192),
        ("1023.0", 1023),
        ("1.0K", 1024),
        ("21.7K", 22170),
        ("7.5M", 7811892),
        ("2.0G", 2093796557),
        ("n/a", None),
    ],
)
def test_perl_bytes_lower_bound(text: str, expected: int | None) -> None:
    assert perl_bytes_lower_bound(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0B", 0), ("168B", 168), ("23K", 23552), ("6M", 6 * 1024**2), ("1G", 1024**3), ("N/A", None)],
)
def test_table_bytes_lower_bound(text: str, expected: int | None) -> None:
    assert table_bytes_lower_bound(text) == expected


@pytest.mark.parametrize("parse", [parse_ike_sa, parse_ipsec_sa])
def test_service_not_running(parse: object) -> None:
    assert callable(parse)
    with pytest.raises(ServiceNotRunning):
        parse("IPsec Process NOT Running\n")
    with pytest.raises(EmptyOutput):
        parse("\n \n")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (VYOS13_IKE[: VYOS13_IKE.index("    Description: VPC tunnel 2")], "without its SA table"),
        (
            VYOS14_IKE_IDS.replace("    up     IKEv2   AES_CBC_256  HMAC_SHA2_256_128  ", ""),
            "does not fit its columns",
        ),
        (VYOS14_IKE_IDS[: VYOS14_IKE_IDS.index("yes    4987")], "truncated"),
        (VYOS13_IKE.replace("up     IKEv2", "maybe  IKEv2"), "unknown SA state"),
        (VYOS13_IKE.replace("3600    28800", "3600s   28800"), "expected a number"),
        ("Peer ID / IP    Local ID / IP\n", "rule line"),
        ("some random text\n", "not 'show vpn ike sa'"),
    ],
)
def test_not_ike_sa_output(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_ike_sa(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (VYOS13_IPSEC.replace("1K/2M", "1K/2X"), "bad byte count"),
        (VYOS13_IPSEC.replace("up                 1K", "up       1h1x      1K"), "bad uptime"),
        (VYOS13_IPSEC[: VYOS13_IPSEC.index("13.112.28.41      N/A")], "truncated"),
        (PERL_DOWN.replace("1.5G/1023.9K", "1.5G-1023.9K"), "bad in/out pair"),
        (PERL_DOWN + "garbage right under the table\n", "does not fit its columns"),
        (PERL_DOWN + "\ngarbage after the table\n", "unexpected line"),
        (PERL_DOWN[: PERL_DOWN.index("    Tunnel  State")], "without its SA table"),
        ("Connection  State\n", "rule line"),
        ("{}", "not 'show vpn ipsec sa'"),
    ],
)
def test_not_ipsec_sa_output(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_ipsec_sa(text)
