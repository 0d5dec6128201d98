"""Op-mode commands (as vyatta-op-cmd-wrapper runs them) and vtysh of the simulated router."""

from __future__ import annotations

from dataclasses import dataclass

from vpnwatch.lab.vyos_sim.core import RouterCore
from vpnwatch.lab.vyos_sim.formats import since_1_4
from vpnwatch.lab.vyos_sim.hostile import hostile_stdout
from vpnwatch.lab.vyos_sim.render_bgp import BgpFacts, bgp_summary_json, bgp_summary_text
from vpnwatch.lab.vyos_sim.render_vpn import ike_sa_text, ipsec_sa_text

OP_WRAPPER = "/opt/vyatta/bin/vyatta-op-cmd-wrapper"
_RELEASE = {
    "1.1": ("1.1.8", "helium"),
    "1.3": ("1.3.8", "equuleus"),
    "1.4": ("1.4.3", "sagitta"),
    "1.5": ("1.5-stream-2025-Q2", "circinus"),
}
_STRONGSWAN = {"1.1": "5.2.2", "1.3": "5.9.1"}


@dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str = ""
    status: int = 0


def _invalid(words: list[str]) -> ExecResult:
    return ExecResult(f"\n  Invalid command: [{' '.join(words)}]\n\n", status=1)


def bgp_facts(core: RouterCore) -> BgpFacts | None:
    now, neighbors = core.neighbor_statuses()
    view = core.view
    if not view.bgp_configured or view.local_as is None:
        return None
    originated = sum(1 for n in view.networks if n in view.static_routes)
    return BgpFacts(view.router_id or core.private_ip, view.local_as, neighbors, originated, now)


def _show_version(core: RouterCore) -> str:
    release, train = _RELEASE[core.version]
    if core.version == "1.1":
        return (
            f"Version:      VyOS {release}\nDescription:  VyOS {release} ({train})\n"
            "Copyright:    2017 VyOS maintainers and contributors\n"
            "Built by:     maintainers@vyos.net\nSystem type:  x86 64-bit\n"
            "Boot via:     image\nHypervisor:   Xen hvm\nPlatform:     Xen\n"
        )
    return (
        f"Version:          VyOS {release}\nRelease train:    {train}\n\n"
        "Built by:         autobuild@vyos.net\nArchitecture:     x86_64\n"
        "Boot via:         installed image\nSystem type:      Xen HVM guest\n"
        "Hardware vendor:  Amazon EC2\n"
    )


def _reset_peer(core: RouterCore, peer: str) -> ExecResult:
    if core.reset_sas(peer):
        if core.version == "1.1":
            return ExecResult(f"Resetting tunnel vti with peer {peer}...\n")
        return ExecResult("Peer reset result: success\n")
    if since_1_4(core.version):
        return ExecResult("Peer or tunnel(s) not found, aborting\n", status=1)
    return ExecResult(f"Peer {peer} not found\n", status=1)


def _reset_bgp(core: RouterCore, neighbor: str) -> ExecResult:
    if core.reset_bgp(neighbor):
        return ExecResult("")
    if core.version == "1.1":
        return ExecResult(f'% Unknown neighbor - "{neighbor}"\n', status=1)
    return ExecResult(f'% BGP: Unknown neighbor - "{neighbor}"\n', status=1)


def op_mode(core: RouterCore, words: list[str]) -> ExecResult:
    """An op-mode command, as vyatta-op-cmd-wrapper runs it (hostile faults applied)."""
    result = _op_mode(core, words)
    stdout = hostile_stdout(core, " ".join(words), result.stdout)
    return result if stdout is result.stdout else ExecResult(stdout, result.stderr, 0)


def _op_mode(core: RouterCore, words: list[str]) -> ExecResult:
    line = " ".join(words)
    if line == "show ip bgp summary":
        return ExecResult(bgp_summary_text(core.version, bgp_facts(core)))
    if line in ("show vpn ike sa", "show vpn ipsec sa"):
        now, sas = core.sa_statuses()
        if not sas and core.version != "1.1":
            message = "IPsec is not runing" if core.version == "1.3" else "IPsec not initialized"
            return ExecResult(message + "\n", status=1)
        render = ike_sa_text if line == "show vpn ike sa" else ipsec_sa_text
        return ExecResult(render(core.version, sas, now, core.private_ip))
    if line == "show configuration":
        return ExecResult(core.running.boot_text(margin=" "))
    if line == "show configuration commands":
        return ExecResult("".join(c + "\n" for c in core.running.commands()))
    if line == "show version":
        return ExecResult(_show_version(core))
    if len(words) == 4 and words[:3] == ["reset", "ip", "bgp"]:
        return _reset_bgp(core, words[3])
    if line == "restart vpn":
        core.reset_sas(None)
        version = _STRONGSWAN.get(core.version)
        if version is None:
            return ExecResult("")
        return ExecResult(
            f"Stopping strongSwan IPsec...\nStarting strongSwan {version} IPsec [starter]...\n"
        )
    if len(words) == 4 and words[:3] == ["reset", "vpn", "ipsec-peer"]:
        return _reset_peer(core, words[3])
    if (
        since_1_4(core.version)
        and len(words) == 6
        and words[:5] == ["reset", "vpn", "ipsec", "site-to-site", "peer"]
    ):
        return _reset_peer(core, words[5])
    return _invalid(words)


def vtysh(core: RouterCore, command: str) -> ExecResult:
    words = command.split()
    if words in (["show", "ip", "bgp", "summary"], ["show", "bgp", "summary"]):
        return ExecResult(bgp_summary_text(core.version, bgp_facts(core)))
    json_forms = (["show", "ip", "bgp", "summary", "json"], ["show", "bgp", "summary", "json"])
    if words in json_forms and core.version != "1.1":  # Quagga has no JSON output
        return ExecResult(bgp_summary_json(core.version, bgp_facts(core)))
    if core.version == "1.1":
        return ExecResult("% Unknown command.\n", status=1)
    return ExecResult(f"% Unknown command: {command}\n", status=1)
