"""The simulator's formatting against the real tools: published outputs, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpnwatch.lab.vyos_sim.core import NeighborStatus
from vpnwatch.lab.vyos_sim.formats import (
    frr_uptime,
    hurry_size,
    memstr,
    natural_key,
    perl_bytes,
    seconds_to_human,
)
from vpnwatch.lab.vyos_sim.render_bgp import BgpFacts, bgp_summary_text
from vpnwatch.lab.vyos_sim.render_vpn import tabulate_simple

FIXTURES = Path(__file__).parents[1] / "fixtures" / "router-outputs"
NOW = 1_700_000_000.0


def _fixture(name: str) -> list[str]:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"fixture {name} is not in this checkout")
    return path.read_text().splitlines()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "00:00:00"),
        (2618, "00:43:38"),
        (86399, "23:59:59"),
        (86400, "1d00h00m"),
        (430800, "4d23h40m"),
        (604799, "6d23h59m"),
        (604800, "01w0d00h"),
        (3214800, "05w2d05h"),
        (365 * 86400, "01y00w0d"),
    ],
)
def test_frr_uptime(seconds: int, text: str) -> None:
    assert frr_uptime(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, ""),
        (41, "41s"),
        (208, "3m28s"),
        (366, "6m6s"),
        (3600, "1h"),
        (18016, "5h16s"),
        (8 * 86400 + 61, "1w1d1m1s"),
    ],
)
def test_seconds_to_human(seconds: int, text: str) -> None:
    assert seconds_to_human(seconds) == text


def test_byte_and_memory_formats() -> None:
    assert [hurry_size(n) for n in (0, 168, 1023, 1024, 23552, 24575, 6 * 1024 * 1024)] == [
        "0B",
        "168B",
        "1023B",
        "1K",
        "23K",
        "23K",
        "6M",
    ]
    assert hurry_size(250, si=True) == "250B" and hurry_size(6100, si=True) == "6K"
    assert [perl_bytes(n) for n in (0, 192, 1024, 22221, 7864320)] == [
        "0.0",
        "192.0",
        "1024.0",
        "21.7K",
        "7.5M",
    ]
    # FRR/Quagga examples from published outputs
    assert [memstr(n) for n in (1344, 2496, 3 * 741464, 44032, 0)] == [
        "1344 bytes",
        "2496 bytes",
        "2172 KiB",
        "43 KiB",
        "0 bytes",
    ]
    assert sorted(["rule 20", "rule 100", "rule 3"], key=natural_key) == [
        "rule 3",
        "rule 20",
        "rule 100",
    ]


def _neighbor(
    address: str,
    remote_as: int,
    up: int | None,
    state: str,
    received: int,
    sent: int,
    rcvd: int,
    msgs_sent: int,
) -> NeighborStatus:
    since = None if up is None else NOW - up
    prefixes = tuple(f"10.{i}.0.0/16" for i in range(received))
    return NeighborStatus(
        address, remote_as, state, since, since, prefixes, sent, rcvd, msgs_sent, 1, 0, None
    )


def _table(text: str) -> list[str]:
    """The neighbor table of a summary (header and rows), trailing blanks removed."""
    lines = [line.rstrip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("Neighbor"))
    end = lines.index("", start)
    return lines[start:end]


def test_quagga_rows_match_vyos_1_1() -> None:
    expected = _table(
        "\n".join(_fixture("bgp-summary/vyos11-quagga-napalm-docstring-active-never.txt")) + "\n\n"
    )
    facts = BgpFacts(
        "192.168.1.2",
        64520,
        [
            _neighbor("192.168.1.1", 64519, 430800 + 59, "Established", 1, 0, 7226, 7189),
            _neighbor("192.168.1.3", 64521, 421500 + 1, "Established", 0, 0, 7132, 7103),
            _neighbor("192.168.1.4", 64522, None, "Active", 0, 0, 0, 0),
        ],
        originated=1,
        now=NOW,
    )
    text = bgp_summary_text("1.1", facts)
    assert _table(text) == expected
    assert (
        text.splitlines()[:2]
        == _fixture("bgp-summary/vyos11-quagga-napalm-docstring-active-never.txt")[:2]
    )


def test_frr_7_5_rows_match_vyos_1_3() -> None:
    lines = _fixture("bgp-summary/vyos13-doc-dmvpn-hub1-pfxsnt.txt")
    facts = BgpFacts(
        "192.168.0.1",
        65000,
        [
            _neighbor("172.16.253.131", 65001, 2618, "Established", 1, 4, 26519, 26526),
            _neighbor("172.16.253.132", 65002, 2796, "Established", 1, 4, 26545, 26540),
            _neighbor("172.16.253.133", 65003, 2519, "Established", 1, 4, 26528, 26520),
        ],
        originated=4,
        now=NOW,
    )
    text = bgp_summary_text("1.3", facts)
    assert _table(text) == _table("\n".join(lines) + "\n")
    assert text.splitlines()[:2] == lines[:2]
    assert text.splitlines()[-1] == lines[-1] == "Total number of neighbors 3"


def test_frr_9_rows_match_vyos_1_4() -> None:
    lines = _fixture("bgp-summary/vyos14-frr9-desc-f5-lab.txt")
    facts = BgpFacts(
        "10.255.255.1",
        65540,
        [
            _neighbor("10.1.10.5", 65541, 8194, "Established", 1, 7, 6703, 6161),
            _neighbor("10.1.20.6", 65542, 4329, "Established", 1, 7, 550, 547),
            _neighbor("10.1.30.7", 65543, 6458, "Established", 1, 7, 958, 903),
        ],
        originated=10,
        now=NOW,
    )
    text = bgp_summary_text("1.4", facts)
    assert _table(text) == _table("\n".join(lines) + "\n")
    assert text.splitlines()[:2] == [lines[0], lines[1]]


def test_frr_never_established_row_layout() -> None:
    expected = (
        "193.189.82.105  4      12365         0         0        0    0    0    never       Active"
    )
    facts = BgpFacts(
        "10.0.0.1",
        65000,
        [_neighbor("193.189.82.105", 12365, None, "Active", 0, 0, 0, 0)],
        originated=0,
        now=NOW,
    )
    assert _table(bgp_summary_text("1.3", facts))[1] == expected
    assert _table(bgp_summary_text("1.4", facts))[1] == expected + "        0 N/A"


def test_tabulate_matches_vyos_1_4_ipsec_tables() -> None:
    for name in (
        "ipsec-sa/vyos14-doc-troubleshooting-table-up.txt",
        "ipsec-sa/vyos15-doc-cisco-policy-based-two-tunnels.txt",
        "ipsec-sa/vyos14-user-dmvpn-down-and-up-same-name.txt",
    ):
        lines = _fixture(name)
        headers = [
            "Connection",
            "State",
            "Uptime",
            "Bytes In/Out",
            "Packets In/Out",
            "Remote address",
            "Remote ID",
            "Proposal",
        ]
        starts = [
            i for i, ch in enumerate(lines[1]) if ch == "-" and (i == 0 or lines[1][i - 1] == " ")
        ]
        rows = [
            [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
            for line in lines[2:]
        ]
        rendered = tabulate_simple(headers, rows).splitlines()
        assert [line.rstrip() for line in rendered] == lines
