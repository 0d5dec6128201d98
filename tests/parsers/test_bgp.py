"""`show ip bgp summary` forms the fixtures do not cover, written after FRR's bgp_vty.c,
Quagga's bgp_vty.c and EdgeOS (ZebOS) output."""

from __future__ import annotations

import pytest

from tests.parsers._fixtures import sample_text
from vpnwatch.errors import ParseError
from vpnwatch.model import BgpNeighbor
from vpnwatch.parsers import (
    EmptyOutput,
    UnsupportedCommand,
    bgp_summary_supports_json,
    parse_bgp_summary,
)

FRR10_JSON = """\
{
"ipv4Unicast":{
  "routerId":"10.0.1.30",
  "as":65000,
  "vrfId":0,
  "vrfName":"default",
  "tableVersion":5,
  "ribCount":3,
  "ribMemory":552,
  "peerCount":2,
  "peerMemory":1468176,
  "peers":{
    "169.254.233.169":{
      "hostname":"aws-tgw",
      "remoteAs":64512,
      "localAs":65000,
      "version":4,
      "msgRcvd":9321,
      "msgSent":9334,
      "tableVersion":0,
      "outq":0,
      "inq":0,
      "peerUptime":"1d02h03m",
      "peerUptimeMsec":93780000,
      "peerUptimeEstablishedEpoch":1700000000,
      "pfxRcd":1,
      "pfxSnt":2,
      "state":"Established",
      "peerState":"OK",
      "connectionsEstablished":1,
      "connectionsDropped":0,
      "desc":"VPC tunnel 1",
      "idType":"ipv4"
    },
    "169.254.207.97":{
      "remoteAs":64512,
      "localAs":65000,
      "version":4,
      "msgRcvd":0,
      "msgSent":0,
      "tableVersion":0,
      "outq":0,
      "inq":0,
      "peerUptime":"never",
      "peerUptimeMsec":0,
      "pfxRcd":0,
      "pfxSnt":0,
      "state":"Active",
      "peerState":"OK",
      "connectionsEstablished":0,
      "connectionsDropped":0,
      "idType":"ipv4"
    }
  },
  "failedPeers":1,
  "displayedPeers":2,
  "totalPeers":2,
  "dynamicPeers":0,
  "bestPath":{
    "multiPathRelax":"false"
  }
}
}
"""


def test_frr10_json_with_ipv4unicast_wrapper() -> None:
    summary = parse_bgp_summary(FRR10_JSON)
    assert (summary.router_id, summary.local_as) == ("10.0.1.30", 65000)
    assert summary.neighbors == (
        BgpNeighbor(
            "169.254.233.169", 64512, "Established", 1, 93780, "ipv4Unicast", "VPC tunnel 1"
        ),
        BgpNeighbor("169.254.207.97", 64512, "Active", None, None, "ipv4Unicast", None),
    )
    assert summary.neighbors[0].established and not summary.neighbors[1].established


def test_older_bare_json_shape_with_prefix_received_count() -> None:
    text = (
        '{"routerId":"10.0.0.1","as":65000,"vrfId":0,"vrfName":"Default","tableVersion":3,'
        '"ribCount":1,"peerCount":1,"peers":{"169.254.10.1":{"remoteAs":64512,"version":4,'
        '"msgRcvd":100,"msgSent":101,"tableVersion":0,"outq":0,"inq":0,'
        '"peerUptime":"00:10:00","prefixReceivedCount":2,"state":"Established",'
        '"idType":"ipv4"}},"totalPeers":1,"dynamicPeers":0}'
    )
    (neighbor,) = parse_bgp_summary(text).neighbors
    assert neighbor == BgpNeighbor("169.254.10.1", 64512, "Established", 2, 600, None, None)


def test_json_admin_shutdown_reads_like_the_text_form() -> None:
    text = FRR10_JSON.replace(
        '"state":"Active",\n      "peerState":"OK"', '"state":"Idle",\n      "peerState":"Admin"'
    )
    assert parse_bgp_summary(text).neighbors[1].state == "Idle (Admin)"


def test_json_vrf_all_shape_and_empty_answer() -> None:
    nested = '{"default":' + FRR10_JSON + ', "blue": {}}'
    assert [n.neighbor for n in parse_bgp_summary(nested).neighbors] == [
        "169.254.233.169",
        "169.254.207.97",
    ]
    # FRR prints {} for "no BGP instance / no neighbors" in JSON.
    assert parse_bgp_summary("{}\n").neighbors == ()


@pytest.mark.parametrize(
    "text",
    [
        "% Unknown command.\n",
        "% Command incomplete.\n",
        "\n  % Unknown command: show ip bgp summary json\n",
        "Invalid command: show ip bgp summary [json]\n",
    ],
)
def test_router_refusing_the_json_form(text: str) -> None:
    assert not bgp_summary_supports_json(text)
    with pytest.raises(UnsupportedCommand):
        parse_bgp_summary(text)


def test_supports_json_detection() -> None:
    assert bgp_summary_supports_json(FRR10_JSON)
    assert not bgp_summary_supports_json("BGP router identifier 1.1.1.1, local AS number 1\n")


QUAGGA_WRAPPED_IPV6 = """\
BGP router identifier 10.0.0.1, local AS number 65000
RIB entries 3, using 336 bytes of memory
Peers 2, using 9120 bytes of memory

Neighbor        V    AS MsgRcvd MsgSent   TblVer  InQ OutQ Up/Down  State/PfxRcd
169.254.10.1    4 64512     502     505        0    0    0 01:23:45        1
2001:db8:100::1
                4 64513       0       0        0    0    0 never    Connect

Total number of neighbors 2
"""


def test_quagga_wraps_long_neighbors_onto_their_own_line() -> None:
    summary = parse_bgp_summary(QUAGGA_WRAPPED_IPV6)
    assert summary.neighbors == (
        BgpNeighbor("169.254.10.1", 64512, "Established", 1, 5025, None, None),
        BgpNeighbor("2001:db8:100::1", 64513, "Connect", None, None, None, None),
    )


FRR9_MIXED = sample_text("frr9-bgp-summary-admin-policy-dynamic-asdot.txt")


def test_frr9_admin_down_policy_dynamic_asdot_and_descriptions_with_spaces() -> None:
    summary = parse_bgp_summary(FRR9_MIXED)
    af = "IPv4 Unicast"
    assert summary.neighbors == (
        BgpNeighbor("169.254.10.1", 64512, "Established", 1, 1908000, af, "AWS tunnel 1"),
        BgpNeighbor("169.254.11.1", 64512, "Idle (Admin)", None, None, af, "AWS tunnel 2"),
        BgpNeighbor("192.168.0.2", 65002, "(Policy)", None, None, af, "N/A"),
        BgpNeighbor("10.1.0.5", 64086 * 65536 + 59904, "Established", 3, 33004800, af, "N/A"),
    )


EDGEOS = """\
BGP router identifier 10.0.0.1, local AS number 65000
BGP table version is 4
1 BGP AS-PATH entries
0 BGP community entries

Neighbor                 V   AS   MsgRcv    MsgSen TblVer   InQ   OutQ    Up/Down   State/PfxRcd
169.254.10.1             4 64512    1150      1147      4      0      0  15:29:48               1

Total number of neighbors 1

Total number of Established sessions 1
"""


def test_edgeos_zebos_columns() -> None:
    (neighbor,) = parse_bgp_summary(EDGEOS).neighbors
    assert neighbor == BgpNeighbor("169.254.10.1", 64512, "Established", 1, 55788, None, None)


@pytest.mark.parametrize(
    "text",
    [
        "% No BGP neighbors found in VRF default\n",
        "% BGP instance not found\n",
        "BGP router identifier 10.0.0.1, local AS number 65000\nRIB entries 0, using 0 bytes"
        " of memory\nPeers 0, using 0 bytes of memory\n\nNo IPv4 neighbor is configured\n",
    ],
)
def test_nothing_to_show_is_an_empty_summary(text: str) -> None:
    assert parse_bgp_summary(text).neighbors == ()


def _truncate_after(text: str, marker: str) -> str:
    return text[: text.index(marker) + len(marker)]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("random words\nand more\n", "no BGP summary"),
        (_truncate_after(FRR9_MIXED, "PfxSnt Desc\n"), "without rows"),
        (_truncate_after(FRR9_MIXED, "169.254.11.1    4      64512"), "truncated neighbor row"),
        (
            FRR9_MIXED.replace("*10.1.0.5", "").replace(
                "Total number of neighbors 4", "Total number of neighbors 5"
            ),
            "bad",
        ),
        (FRR9_MIXED.replace("neighbors 4", "neighbors 5"), "truncated table"),
        (EDGEOS.replace("15:29:48", "15:29"), "bad Up/Down"),
        ('{"ipv4Unicast": {"peers": {"1.1.1.1": {"remoteAs": 1}', "invalid JSON"),
        ("[1, 2, 3]", "not an object"),
        ('{"foo": 1, "bar": [1]}', "not a bgp summary"),
        ('{"peers": {"1.1.1.1": {"remoteAs": 1}}}', "has no state"),
        ("% Access denied\n", "router answered"),
        ("[" * 100000, "invalid JSON"),
    ],
)
def test_not_a_bgp_summary(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as caught:
        parse_bgp_summary(text)
    assert "\n" not in str(caught.value)


def test_empty_output() -> None:
    with pytest.raises(EmptyOutput):
        parse_bgp_summary("  \n\n")
