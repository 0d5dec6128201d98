"""The restore (merge, commit, compare, save only on a match, delete the file) against a
simulated VyOS core, and the preflight's pure decisions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from vpnwatch.adapters.ec2_spec import LaunchSpec, Volume
from vpnwatch.adapters.vyos_script import build_config_script
from vpnwatch.backup.manager import config_footer, release_line
from vpnwatch.backup.sanitize import prepare_backup
from vpnwatch.heal.preflight import ami_release, reproducible
from vpnwatch.heal.restore import (
    BACKUP_PATH,
    RestoreMismatch,
    compare,
    release_of_backup,
    restore,
    version_key,
)
from vpnwatch.lab.vyos_sim import SimulatedRouter, TunnelSpec
from vpnwatch.lab.vyos_sim.opmode import op_mode
from vpnwatch.lab.vyos_sim.script import run_script

STRIP = ("interfaces ethernet eth0", "service", "system")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBl7I3p5gVyBBFYs8q8q0l3t0n8i3tVQ2mFbm1b1VnFD vpnwatch"
TUNNELS = (
    TunnelSpec.from_cidr("52.0.0.1", "169.254.10.0/30", "PSKx9QzT0", prefixes=("10.0.0.0/16",)),
)


class CoreAccess:
    """RestoreAccess straight onto a simulated router's core (its real VyOS semantics)."""

    def __init__(self, router: SimulatedRouter) -> None:
        self.core = router.core
        self.removed: list[str] = []
        self.saves = 0

    async def run_op(self, command: str) -> str:
        return op_mode(self.core, command.split()).stdout

    async def run_config(self, commands: Sequence[str], *, save: bool) -> None:
        result = run_script(self.core, build_config_script(commands, save=save))
        if result.status != 0:
            raise RuntimeError(result.stdout)
        self.saves += save

    async def upload(self, path: str, data: bytes) -> None:
        self.core.write_file(path, data.decode())

    async def remove(self, path: str) -> None:
        self.removed.append(path)
        self.core.local_path(path).unlink(missing_ok=True)


def router(name: str, *, fresh: bool, version: str = "1.4") -> SimulatedRouter:
    made = SimulatedRouter(
        name, version=version, local_as=65000, tunnels=TUNNELS, login_keys=[("vpnwatch", KEY)],
        config_commands=[] if fresh else None, vpc_cidr="10.1.0.0/16", private_ip="10.1.0.11",
        mac="0a:00:00:00:00:02" if fresh else "0a:00:00:00:00:01",
    )  # fmt: skip
    made.core.boot()  # loads its saved config, as at power-on
    return made


def backup_of(old: SimulatedRouter) -> str:
    prepared = prepare_backup(op_mode(old.core, ["show", "configuration"]).stdout, STRIP)
    footer = config_footer(old.core.read_file("/config/config.boot"))
    return prepared.text + footer + release_line(op_mode(old.core, ["show", "version"]).stdout)


async def test_a_matching_restore_is_saved_and_its_file_deleted() -> None:
    old, new = router("r1", fresh=False), router("r1", fresh=True)
    backup = backup_of(old)
    assert release_of_backup(backup) == "1.4.3" and "vyos-config-version" in backup
    access = CoreAccess(new)
    assert await restore(access, backup, STRIP) == "1.4.3"
    saved = new.saved_config_commands()
    assert any(c.startswith("set vpn ipsec") for c in saved) and access.saves == 1
    assert access.removed == [BACKUP_PATH] and not new.core.local_path(BACKUP_PATH).exists()


async def test_a_partial_merge_is_not_saved_and_the_file_is_still_deleted() -> None:
    old, new = router("r1", fresh=False), router("r1", fresh=True)
    backup = backup_of(old).replace("esp-group AWS {", "esp-group AWS {\n bogus-node 1")
    access = CoreAccess(new)
    with pytest.raises((RestoreMismatch, RuntimeError)):
        await restore(access, backup, STRIP)
    assert access.saves == 0 and access.removed == [BACKUP_PATH]
    assert not any(c.startswith("set vpn") for c in new.saved_config_commands())


async def test_a_backup_from_another_release_is_committed_but_not_saved() -> None:
    old, new = router("r1", fresh=False), router("r1", fresh=True)
    backup = backup_of(old).replace("vpnwatch-show-version: 1.4.3", "vpnwatch-show-version: 1.4.1")
    access = CoreAccess(new)
    with pytest.raises(RestoreMismatch, match=r"1\.4\.1 backup onto VyOS 1\.4\.3"):
        await restore(access, backup, STRIP)
    assert access.saves == 0


def test_compare_ignores_only_instance_specific_and_uncovered_nodes() -> None:
    backup = ["set protocols bgp system-as '65000'", "set interfaces ethernet eth1 hw-id 'aa'"]
    running = [
        "set protocols bgp system-as '65000'",
        "set interfaces ethernet eth1 hw-id 'bb'",  # the new interface's MAC
        "set system host-name 'vyos'",  # a section the backup leaves to the instance
    ]
    assert not compare(backup, running, STRIP)
    unexpected = compare(backup, [*running, "set protocols static route 0.0.0.0/0"], STRIP)
    assert unexpected.unexpected == ("set protocols static route 0.0.0.0/0",)
    missing = compare([*backup, "set vpn ipsec interface 'eth0'"], running, STRIP)
    assert missing.missing == ("set vpn ipsec interface 'eth0'",)
    assert "vpn ipsec" in missing.summary() and "eth0'" not in missing.summary()
    login = "set system login user vyos authentication public-keys cloud-init-1 key 'AAAA'"
    assert not compare(backup, [*running[:2], login], STRIP[:2])  # the fresh login


def test_versions_and_ami_names() -> None:
    assert version_key("1.4.3") > version_key("1.4") > version_key("1.3.8")
    assert version_key("1.5-rolling-202401010000") == (1, 5)
    assert ami_release({"Name": "vyos-1.4.3-amd64-lab"}) == "1.4.3"
    assert ami_release({"Name": "router", "Description": "VyOS 1.3.8 (equuleus)"}) == "1.3.8"
    assert ami_release({"Name": "my-router-image"}) is None
    assert release_of_backup("/* Release version: 1.1.8 */\n") == "1.1.8"
    assert release_of_backup("set system host-name r1\n") is None


def _spec(**changes: object) -> LaunchSpec:
    base = LaunchSpec(
        instance_id="i-1", image_id="ami-1", instance_type="t3.small", subnet_id="subnet-1",
        vpc_id="vpc-1", private_ip="10.0.0.11", security_group_ids=("sg-1",), key_name="k",
        iam_instance_profile_arn=None, user_data_b64=None, disable_api_termination=False,
        eni_id="eni-1", eni_attachment_id="eni-attach-1", elastic_ips=("52.0.0.1",),
        volumes=(Volume("/dev/xvda", "vol-1", 10, "gp3", 3000, 125, True, "k1", True),),
    )  # fmt: skip
    return LaunchSpec.from_json({**base.to_json(), **changes})


def test_same_ip_refuses_what_it_cannot_reproduce_and_points_at_eni() -> None:
    assert reproducible(_spec(), "same-ip") == []
    assert reproducible(_spec(secondary_private_ips=["10.0.0.20"]), "same-ip") == [
        "1 secondary private IP(s)"
    ]
    problems = reproducible(
        _spec(ipv6_addresses=["2001:db8::1"], elastic_ips=["1.1.1.1", "2.2.2.2"],
              other_interfaces=["eni-2"], eni_delete_on_termination=False),
        "same-ip",
    )  # fmt: skip
    assert len(problems) == 4 and any("kept on termination" in p for p in problems)
    assert reproducible(_spec(secondary_private_ips=["10.0.0.20"]), "eni") == []  # it stays
    extra = {"volumes": [*_spec().to_json()["volumes"], {**_spec().to_json()["volumes"][0],
             "device_name": "/dev/sdf", "volume_id": "vol-2"}]}  # fmt: skip
    assert any("start empty" in p for p in reproducible(_spec(**extra), "eni"))


def test_a_spec_round_trips_through_json(tmp_path: Path) -> None:
    spec = _spec()
    assert LaunchSpec.from_json(spec.to_json()) == spec
    assert spec.root_volume is not None and spec.root_volume.kms_key_id == "k1"
