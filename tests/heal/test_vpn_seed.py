"""heal.seed_vpn_config in the twin's user data (pure part): the rendered VPN part for the
AMI's VyOS, read back the way VyOS's cloud-init reads it; a seed that cannot be had or does
not fit is left out and said, never a reason to refuse; no key in what is said."""

from __future__ import annotations

import random

import pytest

from tests.render.builders import hub_router, spoke1_router
from vpnwatch.adapters.aws import AwsCallFailed
from vpnwatch.config.heal import HealConfig
from vpnwatch.heal.hostkey import BOOT_SCRIPT_PATH
from vpnwatch.heal.preflight import VpnSeed, launch_user_data, seed_commands, vpn_seed
from vpnwatch.heal.userdata import USER_DATA_LIMIT, UserDataError
from vpnwatch.lab.cloud_init import parse_user_data
from vpnwatch.parsers.vyos_config import parse_set_command
from vpnwatch.render import RouterIntent, render_router, section_of

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBl7I3p5gVyBBFYs8q8q0l3t0n8i3tVQ2mFbm1b1VnFD vpnwatch"
OLD = b"#cloud-config\nvyos_config_commands:\n  - set system host-name 'r1'\n"


def test_off_by_default() -> None:
    assert HealConfig().seed_vpn_config is False


@pytest.mark.parametrize(
    ("release", "syntax"), [("1.3.8", "1.3"), ("1.4.3", "1.4"), ("1.5", "1.5")]
)
def test_the_seed_is_the_rendered_vpn_part_for_the_amis_vyos(release: str, syntax: str) -> None:
    intent = spoke1_router()
    data, said = launch_user_data(OLD, KEY, VpnSeed(intent), release)
    rendered = render_router(intent, syntax).commands  # type: ignore[arg-type]
    vpn_part = [c for c in rendered if section_of(parse_set_command(c)[0])]
    assert (
        vpn_part and said == f"{len(vpn_part)} VPN commands for VyOS {syntax} (keys in user data)"
    )
    applied = parse_user_data(data)
    assert applied.problems == ()
    # the old user data's commands first, then the seed, each as cloud-init splits it
    assert applied.vyos_config_commands[0] == ("set", ("system", "host-name"), "r1")
    seeded = applied.vyos_config_commands[1:]
    assert [(a, p) for a, p, _ in seeded] == [("set", parse_set_command(c)[0]) for c in vpn_part]
    assert [v for _, _, v in seeded] == [parse_set_command(c)[1] for c in vpn_part]
    assert "Key.tunnel_1A" in {v for _, _, v in seeded}  # the keys are really there ...
    assert "Key.tunnel" not in said  # ... and never in what is said
    assert applied.ssh_authorized_keys == (KEY,)
    assert applied.write_files[-1].path == BOOT_SCRIPT_PATH


def test_off_means_no_seed_and_nothing_said() -> None:
    data, said = launch_user_data(OLD, KEY, None, "1.4.3")
    assert said is None
    assert len(parse_user_data(data).vyos_config_commands) == 1


@pytest.mark.parametrize(
    ("seed", "release", "why"),
    [
        (VpnSeed(None, "router hub-r1: no VPN connection has its Elastic IP"), "1.4.3",
         "not seeded: router hub-r1: no VPN connection"),
        (VpnSeed(hub_router()), "1.2.9", "not seeded: the AMI's VyOS 1.2.9 is not 1.3"),
        (VpnSeed(hub_router()), None, "not seeded: the AMI's VyOS (unknown)"),
    ],
)  # fmt: skip
def test_a_seed_that_cannot_be_had_is_left_out_and_said(
    seed: VpnSeed, release: str | None, why: str
) -> None:
    data, said = launch_user_data(OLD, KEY, seed, release)
    assert said is not None and said.startswith(why)
    assert len(parse_user_data(data).vyos_config_commands) == 1
    assert seed_commands(seed, release)[0] == ()


def test_a_seed_that_does_not_fit_is_left_out_and_the_launch_goes_on() -> None:
    # incompressible old user data that fits alone (gzip-compressed), not with the hub's seed
    old = random.Random(7).randbytes(14000)
    data, said = launch_user_data(old, KEY, VpnSeed(hub_router()), "1.4.3")
    assert said == f"not seeded: with the VPN part, the user data exceeds {USER_DATA_LIMIT} bytes"
    assert "Key.hub" not in said and len(data) <= USER_DATA_LIMIT
    assert parse_user_data(data).vyos_config_commands == ()
    with pytest.raises(UserDataError):  # too big even unseeded: the user-data check fails
        launch_user_data(old * 2, KEY, VpnSeed(hub_router()), "1.4.3")


async def test_asking_for_the_seed_never_raises_and_never_quotes_a_bug() -> None:
    async def aws_down() -> RouterIntent:
        raise AwsCallFailed("DescribeVpnConnections: throttled")

    async def bug() -> RouterIntent:
        raise RuntimeError("Key.tunnel_1A")

    async def fine() -> RouterIntent:
        return spoke1_router()

    assert await vpn_seed(None) is None  # the switch is off
    assert await vpn_seed(fine) == VpnSeed(spoke1_router())
    assert await vpn_seed(aws_down) == VpnSeed(None, "DescribeVpnConnections: throttled")
    assert await vpn_seed(bug) == VpnSeed(None, "internal error: RuntimeError")
