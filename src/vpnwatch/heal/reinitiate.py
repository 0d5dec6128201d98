"""Which op-mode command re-initiates IKE towards one AWS endpoint, by VyOS version (pure).

- VyOS 1.1-1.3 (vyatta-op-vpn, `scripts/vyatta-vpn-op.pl`): `reset vpn ipsec-peer <address>`
  runs `ipsec down peer-<address>-tunnel-vti{*}` then `ipsec up peer-<address>-tunnel-vti`:
  it initiates again. Peers are named by their address.
- VyOS 1.4 and 1.5 (vyos-1x `op_mode/ipsec.py`, `reset_peer`): the command is `reset vpn
  ipsec site-to-site peer <name>` (T5043 renamed it; `ipsec-peer` no longer exists). It
  terminates the SAs over vici and, since T6148 (vyos-1x PR #3763: in 1.4.1 and 1.5, July
  2024), initiates them again, but only for a peer whose config says `connection-type
  initiate`: the script reads the config without defaults. Before that fix, or without that
  line, the peer stays down after the reset; `restart vpn` (charon restarts and initiates every
  peer it starts) is then the op-mode command that brings it back.

Never guessed: a `show version` or a config it cannot read raises ParseError (no action).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from vpnwatch.errors import ParseError
from vpnwatch.parsers.vyos_config import config_statements

_VERSION = re.compile(r"^\s*Version:\s*VyOS\s+(\S+)", re.MULTILINE)
_TRAIN = re.compile(r"^\s*Release train:\s*(\S+)", re.MULTILINE)
_TRAINS = {"equuleus": (1, 3), "sagitta": (1, 4), "circinus": (1, 5)}
_ROLLING = re.compile(r"rolling-(\d{4})(\d{2})(\d{2})")
T6148_FIXED = date(2024, 7, 28)  # vyos-1x PR #3763 merged (current, then circinus/sagitta)
_PEER = ("vpn", "ipsec", "site-to-site", "peer")


@dataclass(frozen=True)
class Release:
    major: int
    minor: int
    patch: int | None  # 1.4.3 → 3; streams and rolling images have none
    rolling: date | None  # the build date of a rolling image
    text: str

    @property
    def named_peers(self) -> bool:
        return (self.major, self.minor) >= (1, 4)

    @property
    def reset_initiates(self) -> bool:
        """Whether `reset vpn ipsec site-to-site peer` initiates again (T6148)."""
        if self.rolling is not None:
            return self.rolling >= T6148_FIXED
        if (self.major, self.minor) == (1, 4):
            return self.patch is not None and self.patch >= 1
        return (self.major, self.minor) >= (1, 5)


def release_of(show_version: str) -> Release:
    found = _VERSION.search(show_version)
    if found is None:
        raise ParseError("not `show version` output of VyOS (no 'Version: VyOS ...' line)")
    text = found.group(1)
    numbers = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    rolling = _ROLLING.search(text)
    day = None
    if rolling is not None:
        try:
            day = date(*(int(g) for g in rolling.groups()))
        except ValueError:
            raise ParseError(f"VyOS release {text!r}: not a build date") from None
    if numbers is not None:
        patch = int(numbers.group(3)) if numbers.group(3) else None
        return Release(int(numbers.group(1)), int(numbers.group(2)), patch, day, text)
    train = _TRAIN.search(show_version)
    if train is not None and train.group(1).lower() in _TRAINS:
        major, minor = _TRAINS[train.group(1).lower()]
        return Release(major, minor, None, day, text)
    raise ParseError(f"cannot tell the VyOS release of {text!r}")


@dataclass(frozen=True)
class ReinitiatePlan:
    command: str  # the op-mode command
    description: str  # what it does and why this one (audit, logs): no secrets


def reinitiate_plan(
    router: str, show_version: str, config_commands: str, outside_ip: str
) -> ReinitiatePlan:
    """The command that makes `router` initiate IKE towards `outside_ip` again."""
    release = release_of(show_version)
    _, statements = config_statements(config_commands)
    peers: dict[str, dict[str, str]] = {}
    for path, value in statements:
        if path[:4] == _PEER and len(path) == 6 and value is not None:
            peers.setdefault(path[4], {})[path[5]] = value
        elif path[:4] == _PEER and len(path) >= 5:
            peers.setdefault(path[4], {})
    where = f"VyOS {release.text}"
    if not release.named_peers:
        if outside_ip not in peers:
            raise ParseError(f"{router}: no site-to-site peer {outside_ip} in its configuration")
        return ReinitiatePlan(
            f"reset vpn ipsec-peer {outside_ip}",
            f"reset vpn ipsec-peer {outside_ip} on {router} ({where}: down, then up)",
        )
    names = sorted(n for n, leaves in peers.items() if leaves.get("remote-address") == outside_ip)
    if len(names) != 1:
        how = "no" if not names else "more than one"
        raise ParseError(f"{router}: {how} site-to-site peer with remote-address {outside_ip}")
    name = names[0]
    initiates = peers[name].get("connection-type") == "initiate"
    if release.reset_initiates and initiates:
        return ReinitiatePlan(
            f"reset vpn ipsec site-to-site peer {name}",
            f"reset vpn ipsec site-to-site peer {name} on {router} "
            f"({where}: terminates, then initiates: connection-type initiate)",
        )
    why = (
        "before the T6148 fix a peer reset only terminates"
        if not release.reset_initiates
        else f"peer {name} has no connection-type initiate, so a peer reset only terminates"
    )
    what = f"restart vpn on {router} for peer {name} ({where}: {why})"
    return ReinitiatePlan("restart vpn", what)
