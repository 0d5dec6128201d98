"""`vpnwatch render` against the emulated world: the article's topology with BLANK simulated
routers of VyOS 1.3, 1.4 and 1.5 gets every tunnel and BGP session up from the rendered
commands alone; `--diff` finds nothing left; a key AWS rotates shows as `peer` drift only
(never the key), and the aligning commands bring the tunnel back."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from vpnwatch.adapters.vyos import VyosClient
from vpnwatch.cli import main
from vpnwatch.commands.render import render_routers
from vpnwatch.commands.render_inputs import endpoints, fetch_aws
from vpnwatch.config import Config
from vpnwatch.configfile import load_config
from vpnwatch.lab.clients import lab_client
from vpnwatch.lab.faults import ApiCall
from vpnwatch.lab.vyos_sim import Timings
from vpnwatch.lab.world import LabWorld
from vpnwatch.render import connection_params
from vpnwatch.render.present import RenderOutcome

VERSIONS = {  # every version on a hub and on spokes
    "hub-r1": "1.5",
    "hub-r2": "1.3",
    "spoke1-r1": "1.4",
    "spoke1-r2": "1.5",
    "spoke2-r1": "1.3",
    "spoke2-r2": "1.4",
}
BREAK_XML = threading.Event()  # set: DescribeVpnConnections answers with a broken XML


def _break_xml(call: ApiCall) -> bytes | None:
    if not BREAK_XML.is_set():
        return None
    body = call.body.replace(b"<tunnelOptionSet>", b"<tunnelOptionSetX>")
    body = body.replace(b"</tunnelOptionSet>", b"</tunnelOptionSetX>")
    return body.replace(b"&lt;/vpn_connection&gt;", b"")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabWorld]:
    lab = LabWorld(
        tmp_path_factory.mktemp("render-world"),
        detection_delay=0.2,
        router_version=VERSIONS,
        router_timings=Timings(ipsec_setup=0.05, bgp_setup=0.1),
        blank_routers=True,
    )
    lab.aws.add_after_hook("DescribeVpnConnections", _break_xml)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def config(world: LabWorld) -> Config:
    return load_config(world.config_path)


def _wait(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _render(config: Config, router: str | None = None, *, diff: bool = False) -> list[Any]:
    return asyncio.run(render_routers(config, router, None, diff))


def _apply(config: Config, outcomes: list[RenderOutcome], *, aligned: bool = False) -> None:
    async def run() -> None:
        from vpnwatch.adapters.aws import AwsClient
        from vpnwatch.observe import plan_routers

        aws = AwsClient(config.aws)
        client = VyosClient(config.ssh)
        try:
            plans = plan_routers(config)
            where = endpoints(plans, (await fetch_aws(aws, plans)).views, {})
            for o in outcomes:
                lines = o.align if aligned else o.rendered.commands
                await client.run_config(where[o.rendered.name], lines)
        finally:
            await client.close()
            aws.close()

    asyncio.run(run())


def _tunnels_up(world: LabWorld) -> bool:
    return all(r.status == "UP" for r in world.aws.tunnels())


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["render", *args])
    return code, out.getvalue(), err.getvalue()


def test_blank_routers_come_up_from_the_rendered_commands(world: LabWorld, config: Config) -> None:
    # AWS notices the blank routers: every tunnel goes down
    assert _wait(lambda: all(r.status == "DOWN" for r in world.aws.tunnels()))
    outcomes = _render(config)
    assert {o.rendered.name: o.rendered.version for o in outcomes} == VERSIONS
    _apply(config, outcomes)
    assert _wait(lambda: world.routers.wait_established(timeout=0.1))
    assert _wait(lambda: _tunnels_up(world)), [r.to_json() for r in world.aws.tunnels()]
    for name in VERSIONS:
        view = world.routers.view(name)
        assert set(view["bgp"].values()) == {"Established"}
        assert set(view["ipsec"].values()) == {"up"}
    # each AWS session gets exactly the one prefix the article promises
    assert {r.accepted_route_count for r in world.aws.tunnels()} == {1}


def test_then_diff_finds_nothing_and_the_cli_prints_no_key(world: LabWorld, config: Config) -> None:
    assert all(o.drift.drifted == () for o in _render(config, diff=True))
    code, out, err = _cli("--config", str(world.config_path), "--router", "hub-r2")
    assert (code, err) == (0, "")
    assert out.startswith("# hub-r2 (VyOS 1.3)\n")
    assert "pre-shared-secret '<hidden: add --show-secrets>'" in out
    psks = [t.psk for c in world.topology.connections_of("hub-r2") for t in c.tunnels]
    assert not any(psk in out for psk in psks)
    code, out, _ = _cli("--config", str(world.config_path), "--router", "hub-r2", "--show-secrets")
    assert code == 0 and all(psk in out for psk in psks)
    code, out, _ = _cli("--config", str(world.config_path), "--diff", "--format", "json")
    assert code == 0 and '"reason": "VPN configuration matches AWS"' in out


def test_a_rotated_key_is_peer_drift_until_aligned(
    world: LabWorld, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = world.topology.connections_of("spoke1-r1")[0]
    tunnel = connection.tunnels[0]
    ec2 = lab_client("ec2", world.endpoint_url)
    ec2.modify_vpn_tunnel_options(
        VpnConnectionId=connection.id,
        VpnTunnelOutsideIpAddress=tunnel.outside_ip,
        TunnelOptions={"PreSharedKey": "Rotated.by_aws_0001"},
    )
    router = world.simulated_router("spoke1-r1")
    assert router is not None
    assert _wait(lambda: not router.tunnel_up(tunnel.outside_ip))
    (outcome,) = _render(config, "spoke1-r1", diff=True)
    assert outcome.drift.drifted == ("peer",)
    assert "Rotated" not in outcome.drift.reason() and tunnel.psk not in outcome.drift.reason()
    code, out, err = _cli("--config", str(world.config_path), "--router", "spoke1-r1", "--diff")
    assert code == 0 and "differs from AWS in: peer (1 missing, 1 extra)" in out
    assert "Rotated" not in out + err and tunnel.psk not in out + err
    _apply(config, [outcome], aligned=True)
    assert _wait(lambda: router.bgp_up(tunnel.outside_ip))
    assert _render(config, "spoke1-r1", diff=True)[0].drift.drifted == ()
    assert "Rotated" not in capsys.readouterr().err


def test_a_moved_inside_cidr_is_vti_and_bgp_drift(world: LabWorld, config: Config) -> None:
    connection = world.topology.connections_of("hub-r1")[1]
    tunnel = connection.tunnels[1]
    lab_client("ec2", world.endpoint_url).modify_vpn_tunnel_options(
        VpnConnectionId=connection.id,
        VpnTunnelOutsideIpAddress=tunnel.outside_ip,
        TunnelOptions={"TunnelInsideCidr": "169.254.222.0/30"},
    )
    router = world.simulated_router("hub-r1")
    assert router is not None
    assert _wait(lambda: not router.bgp_up(tunnel.outside_ip))
    (outcome,) = _render(config, "hub-r1", diff=True)
    assert outcome.drift.drifted == ("vti", "bgp")
    _apply(config, [outcome], aligned=True)
    assert _wait(lambda: router.bgp_up(tunnel.outside_ip))
    assert _wait(lambda: _tunnels_up(world))


def test_a_malformed_answer_prints_nothing_and_exits_3(world: LabWorld) -> None:
    BREAK_XML.set()
    try:
        code, out, err = _cli("--config", str(world.config_path), "--vyos", "1.4")
    finally:
        BREAK_XML.clear()
    assert (code, out) == (3, "")
    assert "CustomerGatewayConfiguration is not valid XML" in err


def test_config_problems_exit_2(world: LabWorld, tmp_path: Path) -> None:
    code, out, err = _cli("--config", str(world.config_path), "--router", "nope")
    assert (code, out) == (2, "") and "no router named 'nope'" in err
    data = yaml.safe_load(world.config_path.read_text())
    del data["sites"][2]["vpn"]
    other = tmp_path / "novpn.yaml"
    other.write_text(yaml.safe_dump(data))
    code, out, err = _cli("--config", str(other), "--router", "spoke2-r1", "--vyos", "1.3")
    assert (code, out) == (2, "") and "site 'spoke2': no vpn section" in err


def test_the_labs_tunnel_options_and_xml_render_the_same(world: LabWorld) -> None:
    """After key, CIDR and algorithm changes, both descriptions AWS gives still agree."""
    connection = world.topology.connections_of("spoke2-r2")[0]
    ec2 = lab_client("ec2", world.endpoint_url)
    ec2.modify_vpn_tunnel_options(
        VpnConnectionId=connection.id,
        VpnTunnelOutsideIpAddress=connection.tunnels[0].outside_ip,
        TunnelOptions={
            "Phase1EncryptionAlgorithms": [{"Value": "AES256"}, {"Value": "AES256-GCM-16"}],
            "Phase2DHGroupNumbers": [{"Value": 14}],
            "Phase2IntegrityAlgorithms": [{"Value": "SHA2-256"}],
            "DPDTimeoutSeconds": 40,
        },
    )
    items = ec2.describe_vpn_connections()["VpnConnections"]
    gateways = {g["VpnGatewayId"]: g for g in ec2.describe_vpn_gateways()["VpnGateways"]}
    assert len(items) == 8
    for item in items:
        asn = gateways[item["VpnGatewayId"]]["AmazonSideAsn"]
        from_options = connection_params(item, aws_asn=asn, customer_asn=65000)
        bare = {
            **item,
            "Options": {k: v for k, v in item["Options"].items() if k != "TunnelOptions"},
        }
        assert connection_params(bare, aws_asn=None, customer_asn=None) == from_options
    changed = next(i for i in items if i["VpnConnectionId"] == connection.id)
    phase1 = connection_params(changed, aws_asn=64512, customer_asn=65000).tunnels[0].phase1
    assert (phase1.encryption, phase1.dpd_timeout) == ("aes256", 40)
