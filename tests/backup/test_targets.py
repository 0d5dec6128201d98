"""Where a backup is pulled from: ssh_host/ssh_port from config, else the router's EIP."""

from __future__ import annotations

from vpnwatch.adapters.vyos import RouterEndpoint
from vpnwatch.backup import backup_targets
from vpnwatch.discovery import RouterSelector
from vpnwatch.model import RouterAwsView
from vpnwatch.observe import RouterPlan, SshTarget


def plan(name: str, host: str | None, port: int = 22, *, ssh: bool = True) -> RouterPlan:
    selector = RouterSelector(name, "us-east-1", "i-0123456789abcdef0", None)
    target = SshTarget(name, host, port) if ssh else None
    return RouterPlan(name, "hub", "hub", selector, target)


def view(name: str, eip: str | None, error: str | None = None) -> RouterAwsView:
    return RouterAwsView(name, "us-east-1", None, eip, (), error=error)


def test_config_host_wins_then_eip_then_a_clear_failure() -> None:
    plans = [
        plan("hub-r1", "10.9.9.9", 2222),
        plan("hub-r2", None, 22),
        plan("spoke1-r1", None),
        plan("spoke1-r2", None),
        plan("spoke2-r1", None, ssh=False),
    ]
    views = {
        "hub-r1": view("hub-r1", "127.1.1.1"),
        "hub-r2": view("hub-r2", "127.1.1.2"),
        "spoke1-r1": view("spoke1-r1", None, error="aws us-east-1: Throttling"),
    }
    keys = {"hub-r2": "ssh-ed25519 AAAAnewkey"}
    targets, failures = backup_targets(plans, views, keys)
    assert [(t.router, t.endpoint) for t in targets] == [
        ("hub-r1", RouterEndpoint("hub-r1", "10.9.9.9", 2222)),
        ("hub-r2", RouterEndpoint("hub-r2", "127.1.1.2", 22, ("ssh-ed25519 AAAAnewkey",))),
    ]
    errors = {f.router: f.error for f in failures}
    assert errors == {
        "spoke1-r1": "no ssh_host and no EIP known (aws us-east-1: Throttling)",
        "spoke1-r2": "no ssh_host and no EIP known (no EIP found)",
        "spoke2-r1": "ssh is disabled in config",
    }
    assert not any(f.ok for f in failures)
