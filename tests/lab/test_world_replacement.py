"""The world with its simulated routers: SSH as the daemon sees it, tunnels that follow the
routers, and instance replacement as AWS does it (real boto3 over HTTP, real SSH).

The world's monotonic clock is the test's: AWS noticing a dead tunnel, releasing a
terminated instance's IP and printing a console only happen when the test moves it.
"""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.conftest import ManualMonotonic
from tests.lab.test_world_support import (
    endpoint,
    error_of,
    outside_ips,
    statuses_of,
    tunnel_statuses,
    until,
    vyos_client,
)
from vpnwatch.adapters.vyos import HostKeyMismatch, SshUnreachable
from vpnwatch.configfile import load_config
from vpnwatch.lab.clients import lab_client
from vpnwatch.lab.labconfig import HealSettings, render_config, write_config
from vpnwatch.lab.realism import Realism
from vpnwatch.lab.vyos_sim import Timings
from vpnwatch.lab.world import LabWorld

DETECT, RELEASE, CONSOLE = 2.0, 3.0, 1.0
PENDING, NOT_FOUND = 0.3, 0.2
BACKUP_PATH = "/home/vyos/backup.conf"
PRINT_KEYS = (
    '#!/bin/sh\nfor k in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -l -E sha256 -f "$k"; done\n'
)


@pytest.fixture(scope="module")
def clock() -> ManualMonotonic:
    return ManualMonotonic()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, clock: ManualMonotonic) -> Iterator[LabWorld]:
    lab = LabWorld(
        tmp_path_factory.mktemp("world"),
        monotonic=clock,
        detection_delay=DETECT,
        release_delay=RELEASE,
        console_delay=CONSOLE,
        boot_delay=0.05,
        router_timings=Timings(ipsec_setup=0.05, bgp_setup=0.1),
        router_version="mixed",
        realism=Realism(pending_delay=PENDING, not_found_window=NOT_FOUND),
    )
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()
    left = [t.name for t in threading.enumerate() if t.name.startswith(("vpnwatch-lab", "asyncio"))]
    assert left == [], f"threads left running: {left}"


@pytest.fixture(scope="module")
def ec2(world: LabWorld) -> Any:
    return lab_client("ec2", world.endpoint_url, total_max_attempts=1)


def notice(ec2: Any, clock: ManualMonotonic) -> dict[str, str]:
    """Let AWS look, let the detection delay pass, and look again."""
    tunnel_statuses(ec2)
    clock.advance(DETECT)
    return tunnel_statuses(ec2)


def user_data(world: LabWorld) -> str:
    """Logs the daemon in and prints the host key fingerprints on the console."""
    script = "".join(f"      {line}\n" for line in PRINT_KEYS.splitlines())
    return (
        "#cloud-config\nssh_authorized_keys:\n"
        f"  - {world.routers.client_key}\n"
        "write_files:\n"
        "  - path: /opt/vyatta/etc/config/scripts/vyatta-postconfig-bootup.script\n"
        "    permissions: '0755'\n"
        f"    content: |\n{script}"
    )


def launch_same_ip(ec2: Any, world: LabWorld, name: str, *, data: str | None = None) -> str:
    router = world.topology.router(name)
    site = world.topology.site(router.site)
    tags = [{"Key": "vpnwatch:router", "Value": name}, {"Key": "vpnwatch:heal-id", "Value": "h1"}]
    launched = ec2.run_instances(
        ImageId=router.image_id, InstanceType="t3.small", MinCount=1, MaxCount=1,
        SubnetId=site.subnet_id,
        PrivateIpAddress=router.private_ip, SecurityGroupIds=[site.security_group_id],
        KeyName=site.key_name, UserData=user_data(world) if data is None else data,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )  # fmt: skip
    return str(launched["Instances"][0]["InstanceId"])


def settle(clock: ManualMonotonic) -> None:
    """Let a launch become known to the API and leave `pending`."""
    clock.advance(max(PENDING, NOT_FOUND))


async def test_routers_answer_over_ssh_with_their_known_hosts_entries(world: LabWorld) -> None:
    client = vyos_client(world)
    try:
        for name in world.routers.names:
            view = await client.observe(endpoint(world, name))
            assert view.reachable, view.error
            assert view.bgp is not None and view.ipsec is not None
            expected = {t.aws_inside_ip for c in world.topology.connections_of(name)
                        for t in c.tunnels}  # fmt: skip
            assert {n.neighbor for n in view.bgp.neighbors} == expected
            assert all(n.established for n in view.bgp.neighbors)
    finally:
        await client.close()
    lines = sorted(world.known_hosts_file.read_text().splitlines())
    expected_lines = []
    for name in world.routers.names:
        router = world.simulated_router(name)
        assert router is not None
        expected_lines.append(f"[127.0.0.1]:{router.port} {router.host_key_public}")
    assert lines == sorted(expected_lines)
    assert stat.S_IMODE(world.client_key_file.stat().st_mode) == 0o600
    assert {v["version"] for v in world.routers.views()} == {"1.1", "1.3", "1.4", "1.5"}


def test_written_config_points_the_daemon_at_the_routers(world: LabWorld) -> None:
    config = load_config(world.config_path)
    assert config.ssh.enabled
    assert (config.ssh.key_file, config.ssh.known_hosts) == (
        world.client_key_file, world.known_hosts_file,
    )  # fmt: skip
    ports = {r.name: (r.ssh_host, r.ssh_port) for s in config.sites for r in s.routers}
    assert ports == {name: world.router_endpoint(name) for name in world.routers.names}
    assert config.heal.dry_run is True and config.heal.strategy == "same-ip"
    assert config.heal.timeouts.poll == 0.5 and config.heal.timeouts.launch <= 60
    assert config.backup.store == "dir" and config.backup.enabled
    assert world.state_dir in config.state_dir.parents
    live = render_config(
        world.topology, world.endpoint_url, state_dir=world.state_dir,
        ssh=world.ssh_settings, heal=HealSettings(dry_run=False, strategy="eni"),
    )  # fmt: skip
    other = load_config(write_config(live, world.state_dir / "live.yaml"))
    assert (other.heal.dry_run, other.heal.strategy) == (False, "eni")


def test_a_crashed_router_takes_its_tunnels_down_after_the_detection_delay(
    world: LabWorld, ec2: Any, clock: ManualMonotonic
) -> None:
    name = "spoke2-r1"
    mine = outside_ips(world, name)
    before = tunnel_statuses(ec2)
    world.set_router_fault(name, "crash")
    view = world.routers.view(name)
    assert (view["alive"], view["ssh"], view["faults"]) == (False, None, ["crash"])
    assert statuses_of(ec2, world, name) == {"UP"}  # AWS has not noticed yet
    after = notice(ec2, clock)
    assert {after[ip] for ip in mine} == {"DOWN"}
    assert {ip: s for ip, s in after.items() if ip not in mine} == {
        ip: s for ip, s in before.items() if ip not in mine
    }
    world.clear_router_fault(name, "crash")
    assert world.wait_router(name, established=True)
    assert {s for ip, s in notice(ec2, clock).items() if ip in mine} == {"UP"}


def test_reboot_cures_a_router_and_a_terminated_instance_cannot_be_rebooted(
    world: LabWorld, ec2: Any, clock: ManualMonotonic
) -> None:
    name = "hub-r2"
    instance_id = world.router_instance(name)
    world.set_router_fault(name, "hang")
    ec2.reboot_instances(InstanceIds=[instance_id])
    assert world.routers.view(name)["state"] == "rebooting"
    assert world.wait_router(name, established=True)
    assert world.routers.view(name)["faults"] == []
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"

    site = world.topology.site("hub")
    image = world.topology.router("hub-r1").image_id
    spare = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=site.subnet_id)
    spare_id = spare["Instances"][0]["InstanceId"]
    settle(clock)
    ec2.terminate_instances(InstanceIds=[spare_id])
    refused = ("IncorrectInstanceState", 400)
    assert error_of(lambda: ec2.reboot_instances(InstanceIds=[spare_id])) == refused
    assert error_of(lambda: ec2.start_instances(InstanceIds=[spare_id])) == refused
    gone = ec2.describe_instances(InstanceIds=[spare_id])["Reservations"][0]["Instances"][0]
    assert gone["State"]["Name"] == "terminated"  # not revived


async def test_same_ip_replacement_brings_a_blank_router_with_a_new_host_key(
    world: LabWorld, ec2: Any, clock: ManualMonotonic
) -> None:
    name = "spoke1-r1"
    router = world.topology.router(name)
    old_id, port = world.router_instance(name), world.router_endpoint(name)[1]
    old = world.simulated_router(name)
    assert old is not None
    old_key = old.host_key_public
    client = vyos_client(world)
    try:
        backup = await client.run_op(endpoint(world, name), "show configuration")
        ec2.terminate_instances(InstanceIds=[old_id])
        assert world.routers.view(name)["state"] == "terminated"
        with pytest.raises(SshUnreachable):
            await client.fetch_host_key(endpoint(world, name))
        # the private IP stays in use until AWS releases it; the EIP left with the interface
        assert error_of(lambda: launch_same_ip(ec2, world, name)) == ("InvalidIPAddress.InUse", 400)
        address = ec2.describe_addresses(PublicIps=[router.public_ip])["Addresses"][0]
        assert "InstanceId" not in address and "NetworkInterfaceId" not in address
        clock.advance(RELEASE)
        new_id = launch_same_ip(ec2, world, name)
        # eventual consistency: the new id is unknown for a moment, then pending
        assert error_of(lambda: ec2.describe_instances(InstanceIds=[new_id])) == (
            "InvalidInstanceID.NotFound", 400,
        )  # fmt: skip
        listed = ec2.describe_instances(
            Filters=[{"Name": "tag:vpnwatch:heal-id", "Values": ["h1"]}]
        )
        assert listed["Reservations"] == []
        clock.advance(NOT_FOUND)
        state = ec2.describe_instances(InstanceIds=[new_id])["Reservations"][0]["Instances"][0]
        assert state["State"]["Name"] == "pending"

        def associate() -> Any:
            return ec2.associate_address(AllocationId=router.allocation_id, InstanceId=new_id)

        assert error_of(associate) == ("InvalidInstanceID", 400)
        no_check = {"Value": False}
        assert error_of(
            lambda: ec2.modify_instance_attribute(InstanceId=new_id, SourceDestCheck=no_check)
        ) == ("InvalidInstanceID", 400)
        clock.advance(PENDING)
        associate()
        assert world.router_instance(name) == new_id
        assert world.wait_router(name)
        assert world.router_endpoint(name) == ("127.0.0.1", port)
        live = await client.fetch_host_key(endpoint(world, name))
        assert live != old_key
        with pytest.raises(HostKeyMismatch):
            await client.run_op(endpoint(world, name), "show version")

        # the console: no cloud-init host key block, but the boot script's fingerprints
        await until("the boot script's output", lambda: _console(ec2, new_id, "SHA256:"))
        console = ec2.get_console_output(InstanceId=new_id, Latest=True)["Output"]
        assert "BEGIN SSH HOST KEY" not in console
        fingerprint = world.routers.view(name)["host_key"] and _fingerprint(world, name)
        assert f"256 {fingerprint} " in console
        assert not ec2.get_console_output(InstanceId=new_id).get("Output")  # buffered: late
        clock.advance(CONSOLE)
        assert fingerprint in ec2.get_console_output(InstanceId=new_id)["Output"]

        # the daemon's key came with the user data: a fresh AMI, no tunnels, no BGP
        trusted = endpoint(world, name, live)
        running = await client.run_op(trusted, "show configuration commands")
        assert "protocols bgp" not in running and "vpn ipsec" not in running
        assert {s for ip, s in notice(ec2, clock).items() if ip in outside_ips(world, name)} == {
            "DOWN"
        }

        # a restore: upload, merge, commit, save
        await client.upload(trusted, BACKUP_PATH, backup.encode())
        await client.run_config(trusted, [f"merge {BACKUP_PATH}"], save=True)
        assert world.wait_router(name, established=True)
    finally:
        await client.close()
    assert {s for ip, s in notice(ec2, clock).items() if ip in outside_ips(world, name)} == {"UP"}
    mine = [i for i in world.state()["instances"] if i["router"] == name]
    assert sorted((i["instance_id"], i["state"]) for i in mine) == sorted(
        [(old_id, "terminated"), (new_id, "running")]
    )
    tags = ec2.describe_instances(InstanceIds=[new_id])["Reservations"][0]["Instances"][0]["Tags"]
    assert {"Key": "vpnwatch:heal-id", "Value": "h1"} in tags
    rewritten = load_config(world.write_config())
    entry = next(r for s in rewritten.sites for r in s.routers if r.name == name)
    assert (entry.instance_id, entry.ssh_port) == (new_id, port)


async def _console(ec2: Any, instance_id: str, needle: str) -> bool:
    output = ec2.get_console_output(InstanceId=instance_id, Latest=True).get("Output") or ""
    return needle in output


def _fingerprint(world: LabWorld, name: str) -> str:
    router = world.simulated_router(name)
    assert router is not None
    return router.host_key_fingerprint


async def test_eni_replacement_keeps_the_interface_its_ip_and_its_eip(
    world: LabWorld, ec2: Any, clock: ManualMonotonic
) -> None:
    name = "spoke2-r2"
    router = world.topology.router(name)
    old_id, port = world.router_instance(name), world.router_endpoint(name)[1]

    def interface() -> dict[str, Any]:
        found = ec2.describe_network_interfaces(NetworkInterfaceIds=[router.eni_id])
        return dict(found["NetworkInterfaces"][0])

    def launch() -> str:
        spec = [{"DeviceIndex": 0, "NetworkInterfaceId": router.eni_id}]
        launched = ec2.run_instances(
            ImageId=router.image_id, MinCount=1, MaxCount=1, NetworkInterfaces=spec
        )
        return str(launched["Instances"][0]["InstanceId"])

    attachment = interface()["Attachment"]
    assert attachment["DeleteOnTermination"] is True  # AWS's default for a launched interface
    assert error_of(
        lambda: ec2.modify_network_interface_attribute(
            NetworkInterfaceId=router.eni_id,
            Attachment={
                "AttachmentId": "eni-attach-0000000000000000",
                "DeleteOnTermination": False,
            },
        )
    ) == ("InvalidAttachmentID.NotFound", 400)
    ec2.modify_network_interface_attribute(
        NetworkInterfaceId=router.eni_id,
        Attachment={"AttachmentId": attachment["AttachmentId"], "DeleteOnTermination": False},
    )
    assert interface()["Attachment"]["DeleteOnTermination"] is False
    ec2.terminate_instances(InstanceIds=[old_id])
    assert interface()["Status"] == "in-use"  # not released yet
    assert error_of(launch) == ("InvalidIPAddress.InUse", 400)
    clock.advance(RELEASE)
    kept = interface()
    assert (kept["Status"], kept["PrivateIpAddress"], kept["SourceDestCheck"]) == (
        "available", router.private_ip, False,
    )  # fmt: skip
    assert kept["Association"]["PublicIp"] == router.public_ip
    address = ec2.describe_addresses(PublicIps=[router.public_ip])["Addresses"][0]
    assert address["NetworkInterfaceId"] == router.eni_id and "InstanceId" not in address

    new_id = launch()
    address = ec2.describe_addresses(PublicIps=[router.public_ip])["Addresses"][0]
    assert (address["InstanceId"], address["NetworkInterfaceId"]) == (new_id, router.eni_id)
    settle(clock)
    item = ec2.describe_instances(InstanceIds=[new_id])["Reservations"][0]["Instances"][0]
    assert item["PrivateIpAddress"] == router.private_ip
    check = ec2.describe_instance_attribute(InstanceId=new_id, Attribute="sourceDestCheck")
    assert check["SourceDestCheck"]["Value"] is False
    assert world.router_instance(name) == new_id
    assert world.wait_router(name)
    assert world.router_endpoint(name) == ("127.0.0.1", port)
    client = vyos_client(world)
    try:
        live = await client.fetch_host_key(endpoint(world, name))
    finally:
        await client.close()
    view = world.routers.view(name)
    assert (view["host_key"], view["bgp"]) == (live, {})  # a fresh router, blank config


async def test_a_man_in_the_middle_presents_another_key_than_the_console_prints(
    world: LabWorld, ec2: Any, clock: ManualMonotonic
) -> None:
    name = "hub-r1"
    world.tamper_next_console(name)
    ec2.terminate_instances(InstanceIds=[world.router_instance(name)])
    clock.advance(RELEASE)
    new_id = launch_same_ip(ec2, world, name)
    settle(clock)
    assert world.wait_router(name)
    client = vyos_client(world)
    try:
        live = await client.fetch_host_key(endpoint(world, name))
    finally:
        await client.close()
    await until("the boot script's output", lambda: _console(ec2, new_id, "SHA256:"))
    console = ec2.get_console_output(InstanceId=new_id, Latest=True)["Output"]
    printed = [line.split()[1] for line in console.splitlines() if " SHA256:" in line]
    assert printed and _fingerprint(world, name) not in printed  # not the key it presents
    assert world.routers.view(name)["host_key"] == live


def test_a_retried_launch_with_the_same_client_token_gets_the_same_instance(
    world: LabWorld, ec2: Any, clock: ManualMonotonic
) -> None:
    site = world.topology.site("spoke1")
    image = world.topology.router("spoke1-r1").image_id

    def launch(instance_type: str) -> str:
        launched = ec2.run_instances(
            ImageId=image, InstanceType=instance_type, MinCount=1, MaxCount=1,
            SubnetId=site.subnet_id, PrivateIpAddress="10.1.0.50", ClientToken="heal-token-1",
        )  # fmt: skip
        return str(launched["Instances"][0]["InstanceId"])

    first = launch("t3.small")
    assert launch("t3.small") == first  # not "10.1.0.50 is in use" by its own instance
    assert error_of(lambda: launch("t3.large")) == ("IdempotentParameterMismatch", 400)
    settle(clock)
    found = ec2.describe_instances(
        Filters=[{"Name": "private-ip-address", "Values": ["10.1.0.50"]}]
    )["Reservations"]
    assert [i["InstanceId"] for r in found for i in r["Instances"]] == [first]
    ec2.terminate_instances(InstanceIds=[first])
