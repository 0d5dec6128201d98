"""The sites' `vpn` keys `render` needs: validated with their YAML path."""

from __future__ import annotations

import pytest

from vpnwatch.configfile import parse_config
from vpnwatch.errors import ConfigError

BASE = """
aws: {{region: us-east-1}}
ssh: {{key_file: ssh/id, known_hosts: ssh/known_hosts}}
sites:
  - name: hub
    role: hub
    routers: [{{name: hub-r1, instance_id: i-0123456789abcdef0}}]
    vpn: {hub}
  - name: spoke1
    role: spoke
    routers: [{{name: spoke1-r1, instance_id: i-0123456789abcdef1}}]
    vpn: {spoke}
"""
HUB = "{vpc_cidr: 10.0.0.0/16, aggregate: 10.0.0.0/8, bgp_asn: 65000}"
SPOKE = "{vpc_cidr: 10.1.0.0/16}"


def _problems(hub: str, spoke: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE.format(hub=hub, spoke=spoke), environ={})
    return info.value.problems


def test_the_article_sites_parse() -> None:
    config = parse_config(BASE.format(hub=HUB, spoke=SPOKE), environ={})
    hub, spoke = (s.vpn for s in config.sites)
    assert hub is not None and spoke is not None
    assert (hub.vpc_cidr, hub.aggregate, hub.bgp_asn) == ("10.0.0.0/16", "10.0.0.0/8", 65000)
    assert (spoke.vpc_cidr, spoke.aggregate, spoke.bgp_asn) == ("10.1.0.0/16", None, None)


def test_vpn_is_optional() -> None:
    config = parse_config(BASE.format(hub="null", spoke="null"), environ={})
    assert [s.vpn for s in config.sites] == [None, None]


@pytest.mark.parametrize(
    ("hub", "spoke", "problem"),
    [
        ("{vpc_cidr: 10.0.0.1/16, aggregate: 10.0.0.0/8}", SPOKE, "sites[0].vpn.vpc_cidr"),
        ("{vpc_cidr: banana, aggregate: 10.0.0.0/8}", SPOKE, "is not an IPv4 network"),
        ("{vpc_cidr: 10.0.0.0/16, aggregate: 172.16.0.0/12}", SPOKE, "must contain"),
        ("{vpc_cidr: 10.0.0.0/16}", SPOKE, "a hub needs vpn.aggregate"),
        (HUB, "{vpc_cidr: 10.1.0.0/16, aggregate: 10.0.0.0/8}", "only a hub advertises"),
        (HUB, "{vpc_cidr: 10.0.128.0/17}", "vpn.vpc_cidr overlap"),
        ("{vpc_cidr: 10.0.0.0/16, aggregate: 10.0.0.0/8, bgp_asn: 0}", SPOKE, "bgp_asn"),
        (HUB, "{vpc_cidr: 10.1.0.0/16, vpc: x}", "sites[1].vpn.vpc: unknown key"),
    ],
)
def test_bad_vpn_keys_are_reported_with_their_path(hub: str, spoke: str, problem: str) -> None:
    assert any(problem in p for p in _problems(hub, spoke)), _problems(hub, spoke)
