"""VyOS configuration: config.boot and set forms, canonical commands, rendering, sections."""

from __future__ import annotations

import pytest

from tests.parsers._fixtures import fixture_names, fixture_text
from vpnwatch.errors import ParseError
from vpnwatch.parsers import (
    parse_aws_vyatta_config,
    parse_config,
    render_config_boot,
    strip_sections,
)

SECRET = "Xl2o.secret_1"

# VyOS 1.3 config.boot on an AWS router (4-space indent, tag nodes, comments, footer).
VYOS13_BOOT = f"""\
interfaces {{
    ethernet eth0 {{
        address dhcp
        description "WAN (to AWS)"
        hw-id 02:5e:6c:aa:bb:cc
    }}
    loopback lo {{
    }}
    vti vti0 {{
        address 169.254.233.170/30
        description "VPC tunnel 1"
        mtu 1436
    }}
}}
protocols {{
    bgp 65000 {{
        neighbor 169.254.233.169 {{
            remote-as 64512
            soft-reconfiguration {{
                inbound
            }}
            timers {{
                holdtime 30
                keepalive 10
            }}
        }}
        network 10.0.0.0/16 {{
        }}
    }}
}}
service {{
    ssh {{
        port 22
    }}
}}
system {{
    host-name vyos-a
    login {{
        user vyos {{
            authentication {{
                encrypted-password $6$abc/def.ghi$jkl
                plaintext-password ""
            }}
        }}
    }}
    name-server 169.254.169.253
    name-server 8.8.8.8
    /* keep NTP:
       AWS time sync service */
    ntp {{
        server 169.254.169.123 {{
        }}
    }}
}}
vpn {{
    ipsec {{
        ipsec-interfaces {{
            interface eth0
        }}
        site-to-site {{
            peer 3.115.150.60 {{
                authentication {{
                    mode pre-shared-secret
                    pre-shared-secret "{SECRET}"
                }}
                local-address 10.0.1.30
                vti {{
                    bind vti0
                }}
            }}
        }}
    }}
}}


// Warning: Do not remove the following line.
// vyos-config-version: "bgp@1:broadcast-relay@1:cluster@1:config-management@1"
// Release version: 1.3.0
"""

VYOS13_COMMANDS = (
    "set interfaces ethernet eth0 address 'dhcp'",
    "set interfaces ethernet eth0 description 'WAN (to AWS)'",
    "set interfaces ethernet eth0 hw-id '02:5e:6c:aa:bb:cc'",
    "set interfaces loopback lo",
    "set interfaces vti vti0 address '169.254.233.170/30'",
    "set interfaces vti vti0 description 'VPC tunnel 1'",
    "set interfaces vti vti0 mtu '1436'",
    "set protocols bgp 65000 neighbor 169.254.233.169 remote-as '64512'",
    "set protocols bgp 65000 neighbor 169.254.233.169 soft-reconfiguration inbound",
    "set protocols bgp 65000 neighbor 169.254.233.169 timers holdtime '30'",
    "set protocols bgp 65000 neighbor 169.254.233.169 timers keepalive '10'",
    "set protocols bgp 65000 network 10.0.0.0/16",
    "set service ssh port '22'",
    "set system host-name 'vyos-a'",
    "set system login user vyos authentication encrypted-password '$6$abc/def.ghi$jkl'",
    "set system login user vyos authentication plaintext-password ''",
    "set system name-server '169.254.169.253'",
    "set system name-server '8.8.8.8'",
    "set system ntp server 169.254.169.123",
    "set vpn ipsec ipsec-interfaces interface 'eth0'",
    "set vpn ipsec site-to-site peer 3.115.150.60 authentication mode 'pre-shared-secret'",
    f"set vpn ipsec site-to-site peer 3.115.150.60 authentication pre-shared-secret '{SECRET}'",
    "set vpn ipsec site-to-site peer 3.115.150.60 local-address '10.0.1.30'",
    "set vpn ipsec site-to-site peer 3.115.150.60 vti bind 'vti0'",
)


def test_config_boot_to_canonical_commands() -> None:
    config = parse_config(VYOS13_BOOT)
    assert config.format == "boot"
    assert config.commands == VYOS13_COMMANDS


def test_commands_form_in_any_order_with_comments_gives_the_same_list() -> None:
    # Any order, as long as the values of one multi-value leaf keep theirs (sort is stable).
    shuffled = sorted(VYOS13_COMMANDS, key=lambda c: c.split(" '")[0][::-1])
    text = "! AWS-style comment\n#another\n\n" + "\n".join(shuffled) + "\n" + shuffled[3] + "\n"
    config = parse_config(text)
    assert config.format == "commands"
    assert config.commands == VYOS13_COMMANDS


def test_natural_order_of_siblings() -> None:
    text = "\n".join(
        f"set firewall name WAN rule {n} action 'accept'" for n in (100, 9, 10, 1000, 20)
    )
    rules = [c.split()[5] for c in parse_config(text).commands]
    assert rules == ["9", "10", "20", "100", "1000"]


def test_vyos11_footer_and_values_with_quotes() -> None:
    text = (
        "system {\n"
        '    login {\n        banner {\n            pre-login "say \\"hi\\" it\'s me"\n'
        "        }\n    }\n}\n"
        "/* Warning: Do not remove the following line. */\n"
        '/* === vyatta-config-version: "cluster@1:config-management@1" === */\n'
        "/* Release version: VyOS 1.1.8 */\n"
    )
    (command,) = parse_config(text).commands
    assert command == "set system login banner pre-login 'say \"hi\" it's me'"
    assert parse_config(command).commands == (command,)


@pytest.mark.parametrize(
    "name", fixture_names("config-commands") + fixture_names("aws-vyatta-config")
)
def test_render_round_trip_on_fixtures(name: str) -> None:
    commands = parse_config(fixture_text(name)).commands
    boot = render_config_boot(commands)
    again = parse_config(boot)
    assert again.format == "boot"
    assert again.commands == commands


def test_render_uses_vyos_tag_node_spelling() -> None:
    boot = render_config_boot(VYOS13_COMMANDS)
    for line in (
        "interfaces {",
        "    ethernet eth0 {",
        '        description "WAN (to AWS)"',
        "    bgp 65000 {",
        "        neighbor 169.254.233.169 {",
        "            soft-reconfiguration {",
        "                inbound",
        "        network 10.0.0.0/16 {",
        '                plaintext-password ""',
        "            peer 3.115.150.60 {",
        "    name-server 169.254.169.253",
    ):
        assert line in boot.splitlines()
    assert parse_config(boot).commands == VYOS13_COMMANDS


def test_strip_sections() -> None:
    kept, removed = strip_sections(
        VYOS13_COMMANDS, ["interfaces ethernet eth0", "service", "system", "nat"]
    )
    assert removed == ("interfaces ethernet eth0", "service", "system")
    assert kept == tuple(
        c
        for c in VYOS13_COMMANDS
        if not c.startswith(("set interfaces ethernet eth0 ", "set service ", "set system "))
    )
    assert "set interfaces loopback lo" in kept
    # A section name matches whole words only.
    assert strip_sections(["set systemd x"], ["system"]) == (("set systemd x",), ())


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no configuration statements"),
        ("! only a comment\n", "no configuration statements"),
        ("hello world\nthis is not a config\n", "neither set commands nor a config.boot"),
        (VYOS13_BOOT[: VYOS13_BOOT.index("        port 22")], "unbalanced braces"),
        (VYOS13_BOOT.replace("system {", "system {\n}\n}"), "without a matching"),
        (VYOS13_BOOT.replace(f'"{SECRET}"', f'"{SECRET}'), "line 64: unterminated quoted"),
        (VYOS13_BOOT.replace("mtu 1436", "mtu 1436 1500"), "line 12: more than one value"),
        (VYOS13_BOOT.replace("service */", "service"), "unterminated comment"),
        (
            f"set vpn ipsec peer x pre-shared-secret '{SECRET}\nshow interfaces\n",
            "line 1: unterminated quote",
        ),
        (
            "set interfaces vti vti0 address '1.1.1.1/30'\nshow interfaces\n",
            "line 2: not a set command",
        ),
        ("set 'a b' c\n", "line 1: invalid node name"),
    ],
)
def test_bad_configs(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as caught:
        parse_config(text)
    assert SECRET not in str(caught.value)


def test_aws_vyatta_config_for_vyos14_syntax() -> None:
    text = """\
set vpn ipsec authentication psk aws-1 id '52.1.2.3'
set vpn ipsec authentication psk aws-1 id '203.0.113.10'
set vpn ipsec authentication psk aws-1 secret 'psk.one_1'
set vpn ipsec site-to-site peer aws-1 remote-address '52.1.2.3'
set vpn ipsec site-to-site peer aws-1 local-address '10.0.1.30'
set vpn ipsec site-to-site peer aws-1 vti bind 'vti0'
set interfaces vti vti0 address '169.254.10.2/30'
set protocols bgp system-as '65000'
set protocols bgp neighbor 169.254.10.1 remote-as '64512'
"""
    config = parse_aws_vyatta_config(text)
    assert config.local_as == 65000
    (tunnel,) = config.tunnels
    assert (tunnel.peer, tunnel.psk, tunnel.vti_address, tunnel.bgp_neighbor) == (
        "52.1.2.3",
        "psk.one_1",
        "169.254.10.2/30",
        "169.254.10.1",
    )
    assert tunnel.neighbor_as == 64512
    assert "psk.one_1" not in repr(config)


def test_aws_vyatta_config_without_peers() -> None:
    with pytest.raises(ParseError, match="no 'vpn ipsec site-to-site peer'"):
        parse_aws_vyatta_config("set interfaces vti vti0 address '169.254.10.2/30'\n")
