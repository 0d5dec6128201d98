"""The configurations the simulated routers start from.

`base_config_commands`: what a freshly launched VyOS AMI has (eth0 by DHCP, SSH, the login
user with the instance's key, NTP, syslog). `article_config_commands`: the AWS VPN HA
article's setup for one router, written in the syntax of the chosen version.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Literal

from vpnwatch.lab.vyos_sim.formats import Version, since_1_4
from vpnwatch.lab.vyos_sim.runtime import TunnelSpec

Role = Literal["hub", "spoke"]

_NTP = {
    "1.1": ("system", ["0.pool.ntp.org", "1.pool.ntp.org", "2.pool.ntp.org"]),
    "1.3": ("system", ["time1.vyos.net", "time2.vyos.net", "time3.vyos.net"]),
    "1.4": ("service", ["time1.vyos.net", "time2.vyos.net", "time3.vyos.net"]),
    "1.5": ("service", ["time1.vyos.net", "time2.vyos.net", "time3.vyos.net"]),
}
# 1.5 renamed `system syslog global` to `local` (vyos-1x migration system/28-to-29, T6989).
_SYSLOG = {"1.1": "global", "1.3": "global", "1.4": "global", "1.5": "local"}


def host_name(name: str) -> str:
    """`name` made into a valid VyOS host-name."""
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:63]
    return cleaned or "vyos"


def base_config_commands(
    version: Version,
    *,
    mac: str,
    client_key: str | None = None,
    host: str | None = None,
    logins: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """The config of a freshly launched AMI. Its login user's keys: `logins` ((name,
    OpenSSH public key line) pairs, as cloud-init names them) or one `client_key`."""
    if client_key is not None:
        parts = client_key.split()
        logins = [(parts[2] if len(parts) > 2 else "vpnwatch-lab", client_key), *logins]
    user = "set system login user vyos authentication"
    keys = []
    for key_name, line in logins:
        key_type, key_blob = line.split()[:2]
        keys += [
            f"{user} public-keys {key_name} key '{key_blob}'",
            f"{user} public-keys {key_name} type '{key_type}'",
        ]
    commands = [
        "set interfaces ethernet eth0 address 'dhcp'",
        f"set interfaces ethernet eth0 hw-id '{mac}'",
        "set interfaces loopback lo",
        "set service ssh port '22'",
        f"set system host-name '{host or ('VyOS-AMI' if version == '1.1' else 'vyos')}'",
        f"{user} encrypted-password '*'",
        *keys,
        f"set system syslog {_SYSLOG[version]} facility protocols level 'debug'",
    ]
    if version == "1.1":
        commands += [
            "set interfaces ethernet eth0 duplex 'auto'",
            "set interfaces ethernet eth0 speed 'auto'",
            "set system config-management commit-revisions '20'",
            "set system console device ttyS0 speed '9600'",
            "set system login user vyos level 'admin'",
            "set system syslog global facility all level 'notice'",
            "set system time-zone 'UTC'",
        ]
    else:
        commands += [
            "set system config-management commit-revisions '100'",
            "set system console device ttyS0 speed '115200'",
            f"set system syslog {_SYSLOG[version]} facility all level 'info'",
        ]
    section, servers = _NTP[version]
    commands += [f"set {section} ntp server {server}" for server in servers]
    return commands


def _ipsec_common(version: Version) -> list[str]:
    ike, esp = "set vpn ipsec ike-group AWS", "set vpn ipsec esp-group AWS"
    commands = [
        f"{ike} lifetime '28800'",
        f"{ike} proposal 1 dh-group '2'",
        f"{ike} proposal 1 encryption 'aes128'",
        f"{ike} proposal 1 hash 'sha1'",
        f"{ike} dead-peer-detection action 'restart'",
        f"{ike} dead-peer-detection interval '15'",
        f"{ike} dead-peer-detection timeout '30'",
        f"{esp} lifetime '3600'",
        f"{esp} mode 'tunnel'",
        f"{esp} pfs 'enable'",
        f"{esp} proposal 1 encryption 'aes128'",
        f"{esp} proposal 1 hash 'sha1'",
    ]
    if since_1_4(version):
        # VyOS 1.4's own route-based VTI example sets the option (it warns on every VTI
        # peer without it; tests/fixtures/.../vyos14-doc-site2site-route-based-peer1-vti.txt).
        return [
            *commands,
            "set vpn ipsec interface 'eth0'",
            "set vpn ipsec options disable-route-autoinstall",
        ]
    return [
        *commands,
        f"{esp} compression 'disable'",
        "set vpn ipsec ipsec-interfaces interface 'eth0'",
    ]


def peer_name(version: Version, index: int, tunnel: TunnelSpec) -> str:
    """The site-to-site peer tag of tunnel `index` (0-based): its address up to 1.3."""
    return f"AWS-{index + 1}" if since_1_4(version) else tunnel.outside_ip


def _tunnel(version: Version, index: int, t: TunnelSpec, private_ip: str) -> list[str]:
    vti, peer = f"vti{index}", peer_name(version, index, t)
    prefix = f"set vpn ipsec site-to-site peer {peer}"
    length = ipaddress.ip_network(t.inside_cidr).prefixlen
    commands = [
        f"set interfaces vti {vti} address '{t.router_inside_ip}/{length}'",
        f"set interfaces vti {vti} description 'VPC tunnel {index + 1}'",
        f"set interfaces vti {vti} mtu '1436'",
        f"{prefix} authentication mode 'pre-shared-secret'",
        f"{prefix} description 'VPC tunnel {index + 1}'",
        f"{prefix} ike-group 'AWS'",
        f"{prefix} local-address '{private_ip}'",
        f"{prefix} vti bind '{vti}'",
        f"{prefix} vti esp-group 'AWS'",
    ]
    if since_1_4(version):
        psk = f"set vpn ipsec authentication psk {peer}"
        return [
            *commands,
            f"{prefix} remote-address '{t.outside_ip}'",
            f"{psk} id '{t.outside_ip}'",
            f"{psk} secret '{t.psk}'",
        ]
    return [*commands, f"{prefix} authentication pre-shared-secret '{t.psk}'"]


def _policy(name: str, prefixes: Sequence[str]) -> list[str]:
    plist, rmap = f"set policy prefix-list {name}", f"set policy route-map {name}"
    commands = []
    for number, prefix in enumerate(prefixes, start=1):
        commands += [
            f"{plist} rule {number * 10} action 'permit'",
            f"{plist} rule {number * 10} prefix '{prefix}'",
        ]
    return [
        *commands,
        f"{rmap} rule 10 action 'permit'",
        f"{rmap} rule 10 match ip address prefix-list '{name}'",
        f"{rmap} rule 20 action 'deny'",
    ]


def article_config_commands(
    name: str,
    local_as: int,
    tunnels: Sequence[TunnelSpec],
    *,
    role: Role,
    vpc_cidr: str,
    private_ip: str = "10.0.0.10",
    version: Version = "1.1",
    summary_cidr: str = "10.0.0.0/8",
) -> list[str]:
    """The article's configuration of one router (everything but the AMI defaults).

    A spoke advertises its VPC CIDR; the hub advertises `summary_cidr` (the article's
    class A). Each distinct set of prefixes the tunnels bring gets its own IN policy.
    """
    bgp = "set protocols bgp" if since_1_4(version) else f"set protocols bgp {local_as}"
    af = "" if version == "1.1" else "address-family ipv4-unicast "
    gateway = str(ipaddress.ip_network(vpc_cidr)[1])
    advertised = vpc_cidr if role == "spoke" else summary_cidr
    commands = [f"set system host-name '{host_name(name)}'", *_ipsec_common(version)]
    if since_1_4(version):
        commands.append(f"{bgp} system-as '{local_as}'")
    groups = list(dict.fromkeys(t.prefixes for t in tunnels))
    in_names = (
        {groups[0]: "IN"}
        if role == "spoke" and len(groups) == 1
        else {g: f"IN{i}" for i, g in enumerate(groups, start=1)}
    )
    for index, tunnel in enumerate(tunnels):
        commands += _tunnel(version, index, tunnel, private_ip)
        neighbor = f"{bgp} neighbor {tunnel.aws_inside_ip}"
        commands += [
            f"{neighbor} remote-as '{tunnel.remote_as}'",
            f"{neighbor} {af}soft-reconfiguration 'inbound'",
            f"{neighbor} timers holdtime '30'",
            f"{neighbor} timers keepalive '10'",
            f"{neighbor} {af}route-map export 'OUT'",
            f"{neighbor} {af}route-map import '{in_names[tunnel.prefixes]}'",
        ]
    commands.append(f"set protocols static route {vpc_cidr} next-hop {gateway} distance '10'")
    if role == "hub":
        commands.append(
            f"set protocols static route {summary_cidr} next-hop {gateway} distance '100'"
        )
    commands.append(f"{bgp} {af}network {advertised}")
    for group, in_name in in_names.items():
        commands += _policy(in_name, group)
    return [*commands, *_policy("OUT", [advertised])]
