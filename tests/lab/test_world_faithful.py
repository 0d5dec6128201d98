"""The emulated world behaves like EC2 and a stock VyOS AMI by default: logins only from the
key pair and user data, user data applied as VyOS's cloud-init does, launch checks, Latest
only on Nitro, stop/start keeping the disk, launches that die in pending, impaired hosts.
Real boto3 over HTTP, real SSH; the world's monotonic clock is the test's."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.conftest import ManualMonotonic
from tests.lab.test_world_support import endpoint, error_of, until, vyos_client
from vpnwatch.adapters.vyos import SshAuthFailed
from vpnwatch.lab.clients import lab_client
from vpnwatch.lab.realism import USER_DATA_LIMIT, Realism
from vpnwatch.lab.vyos_sim import Timings
from vpnwatch.lab.world import LabWorld

PENDING, NOT_FOUND, RELEASE, STOP = 0.3, 0.2, 1.0, 0.5


@pytest.fixture(scope="module")
def clock() -> ManualMonotonic:
    return ManualMonotonic()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, clock: ManualMonotonic) -> Iterator[LabWorld]:
    lab = LabWorld(
        tmp_path_factory.mktemp("faithful"), monotonic=clock, release_delay=RELEASE,
        console_delay=1.0, boot_delay=0.05, router_timings=Timings(ipsec_setup=0.05, bgp_setup=0.1),
        realism=Realism(pending_delay=PENDING, not_found_window=NOT_FOUND, stop_delay=STOP),
    )  # fmt: skip
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def ec2(world: LabWorld) -> Any:
    return lab_client("ec2", world.endpoint_url, total_max_attempts=1)


def relaunch(ec2: Any, world: LabWorld, clock: ManualMonotonic, name: str, **extra: Any) -> str:
    """Terminate the router's instance and launch a twin on its IP (as the runbook does)."""
    router = world.topology.router(name)
    site = world.topology.site(router.site)
    ec2.terminate_instances(InstanceIds=[world.router_instance(name)])
    clock.advance(RELEASE)
    launched = ec2.run_instances(
        ImageId=router.image_id, InstanceType="t3.small", MinCount=1, MaxCount=1,
        SubnetId=site.subnet_id, PrivateIpAddress=router.private_ip,
        SecurityGroupIds=[site.security_group_id], KeyName=site.key_name, **extra,
    )  # fmt: skip
    clock.advance(max(PENDING, NOT_FOUND))
    return str(launched["Instances"][0]["InstanceId"])


def state_of(ec2: Any, instance_id: str) -> dict[str, Any]:
    found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return dict(found)


async def test_a_fresh_router_only_lets_in_its_key_pair_and_user_data_keys(
    world: LabWorld, ec2: Any, clock: ManualMonotonic
) -> None:
    name = "spoke2-r1"
    relaunch(ec2, world, clock, name)  # no user data: the daemon's key is not there
    assert world.wait_router(name)
    client = vyos_client(world)
    try:
        live = await client.fetch_host_key(endpoint(world, name))
        with pytest.raises(SshAuthFailed):
            await client.run_op(endpoint(world, name, live), "show version")
    finally:
        await client.close()
    site_key = world.topology.site("spoke2").key_public.split()[1]
    running = world.simulated_router(name)
    assert running is not None
    logins = [c for c in running.running_config_commands() if "public-keys" in c]
    assert any(site_key in c for c in logins) and len(logins) == 2  # its key pair's key only


async def test_gzip_user_data_is_applied_as_vyos_cloud_init_does(
    world: LabWorld, ec2: Any, clock: ManualMonotonic
) -> None:
    name = "spoke2-r2"
    data = (
        "#cloud-config\n"
        f"ssh_authorized_keys:\n  - {world.routers.client_key}\n"
        "vyos_config_commands:\n  - set system host-name 'from-user-data'\n"
        "  - set no such path 'x'\n"
        "write_files:\n  - path: /config/scripts/vyos-postconfig-bootup.script\n"
        "    permissions: '0755'\n    content: |\n"
        "      #!/bin/sh\n      echo booted-with-user-data\n"
    )
    new_id = relaunch(ec2, world, clock, name, UserData=gzip.compress(data.encode()))
    assert world.wait_router(name)
    client = vyos_client(world)
    try:
        live = await client.fetch_host_key(endpoint(world, name))
        shown = await client.run_op(endpoint(world, name, live), "show configuration commands")
    finally:
        await client.close()
    assert "set system host-name 'from-user-data'" in shown  # a bad command is just skipped

    async def printed() -> bool:
        out = ec2.get_console_output(InstanceId=new_id, Latest=True).get("Output") or ""
        return "booted-with-user-data" in out

    await until("the boot script's line on the console", printed)


def test_launch_checks_refuse_what_ec2_refuses(world: LabWorld, ec2: Any) -> None:
    router = world.topology.router("hub-r1")
    site = world.topology.site("hub")

    def launch(**extra: Any) -> Any:
        args = {"ImageId": router.image_id, "MinCount": 1, "MaxCount": 1,
                "SubnetId": site.subnet_id, **extra}  # fmt: skip
        return lambda: ec2.run_instances(**args)

    big = b"#" + b"x" * USER_DATA_LIMIT
    assert error_of(launch(UserData=big)) == ("InvalidParameterValue", 400)
    assert error_of(launch(KeyName="nobody")) == ("InvalidKeyPair.NotFound", 400)
    assert error_of(launch(ImageId="ami-00000000000000000")) == ("InvalidAMIID.NotFound", 400)


def test_latest_console_output_only_on_nitro_types(
    world: LabWorld, ec2: Any, clock: ManualMonotonic
) -> None:
    site = world.topology.site("hub")
    image = world.topology.router("hub-r1").image_id
    xen = ec2.run_instances(
        ImageId=image, InstanceType="t2.small", MinCount=1, MaxCount=1, SubnetId=site.subnet_id
    )["Instances"][0]["InstanceId"]
    clock.advance(max(PENDING, NOT_FOUND))
    assert error_of(lambda: ec2.get_console_output(InstanceId=xen, Latest=True)) == (
        "UnsupportedOperation", 400,
    )  # fmt: skip
    ec2.get_console_output(InstanceId=xen)  # the buffered output works
    nitro = world.router_instance("hub-r2")  # t3.small
    assert "login:" in ec2.get_console_output(InstanceId=nitro, Latest=True)["Output"]
    ec2.terminate_instances(InstanceIds=[xen])


async def test_stop_and_start_keep_config_host_key_interface_ip_and_eip(
    world: LabWorld, ec2: Any, clock: ManualMonotonic
) -> None:
    name = "hub-r2"
    router = world.topology.router(name)
    instance = world.router_instance(name)
    before = world.simulated_router(name)
    assert before is not None
    key, saved = before.host_key_public, before.saved_config_commands()
    ec2.stop_instances(InstanceIds=[instance])
    assert state_of(ec2, instance)["State"]["Name"] == "stopping"
    assert world.routers.view(name)["ssh"] is None
    refused = ("IncorrectInstanceState", 400)
    assert error_of(lambda: ec2.start_instances(InstanceIds=[instance])) == refused
    clock.advance(STOP)
    assert state_of(ec2, instance)["State"]["Name"] == "stopped"
    ec2.start_instances(InstanceIds=[instance])
    assert state_of(ec2, instance)["State"]["Name"] == "pending"
    assert error_of(lambda: ec2.stop_instances(InstanceIds=[instance])) == refused
    clock.advance(PENDING)
    assert world.wait_router(name, established=True)
    after = state_of(ec2, instance)
    assert after["State"]["Name"] == "running"
    assert after["PrivateIpAddress"] == router.private_ip
    assert after["NetworkInterfaces"][0]["NetworkInterfaceId"] == router.eni_id
    assert world.aws.eip_holder(router.public_ip) == instance
    now = world.simulated_router(name)
    assert now is not None and now.host_key_public == key
    assert now.saved_config_commands() == saved


def test_a_launch_can_die_in_pending_with_its_state_reason(
    world: LabWorld, ec2: Any, clock: ManualMonotonic
) -> None:
    name = "spoke1-r1"
    world.doom_next_launch(name, "Server.InsufficientInstanceCapacity", "no capacity")
    dead = relaunch(ec2, world, clock, name)
    found = state_of(ec2, dead)
    assert found["State"]["Name"] == "terminated"
    assert found["StateReason"]["Code"] == "Server.InsufficientInstanceCapacity"
    clock.advance(RELEASE)  # its address is released like any terminated instance's
    router, site = world.topology.router(name), world.topology.site("spoke1")
    again = ec2.run_instances(
        ImageId=router.image_id, InstanceType="t3.small", MinCount=1, MaxCount=1,
        SubnetId=site.subnet_id, PrivateIpAddress=router.private_ip,
    )["Instances"][0]["InstanceId"]  # fmt: skip
    clock.advance(max(PENDING, NOT_FOUND))
    assert state_of(ec2, again)["State"]["Name"] == "running"
    assert world.wait_router(name)


def test_an_impaired_host_survives_a_reboot_but_not_a_stop_and_start(
    world: LabWorld, ec2: Any, clock: ManualMonotonic
) -> None:
    name = "hub-r1"
    instance = world.impair(name)

    def checks() -> tuple[str, str]:
        status = ec2.describe_instance_status(InstanceIds=[instance])["InstanceStatuses"][0]
        return status["SystemStatus"]["Status"], status["InstanceStatus"]["Status"]

    assert checks() == ("impaired", "impaired")
    ec2.reboot_instances(InstanceIds=[instance])
    assert not world.wait_router(name, timeout=1.0)
    assert checks() == ("impaired", "impaired")
    ec2.stop_instances(InstanceIds=[instance])
    clock.advance(STOP)
    ec2.start_instances(InstanceIds=[instance])
    clock.advance(PENDING)
    assert world.wait_router(name, established=True)
    assert checks() == ("ok", "ok")
