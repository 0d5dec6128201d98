"""The simulated VyOS routers over real SSH: op-mode formats, config scripts, SFTP, faults."""

# The fixtures come from test_vyos_sim_support: tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json

import asyncssh
import pytest

from tests.lab.test_vyos_sim_support import (  # noqa: F401 - fixtures
    BGP_JSON,
    ManualClock,
    RouterFactory,
    client_key,
    clock,
    config_script,
    make_router,
    op,
    run,
    spoke_tunnels,
    ssh,
)
from vpnwatch.lab.vyos_sim import VERSIONS, Fault, RouterFleet, SimulatedRouter
from vpnwatch.lab.vyos_sim.script import SCRIPT_TEMPLATE

NEIGHBORS = ("169.254.10.1", "169.254.10.5")
PEERS = ("203.0.113.10", "203.0.113.11")


def _rows(text: str, address: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.startswith(address + " ")]


@pytest.mark.parametrize("version", VERSIONS)
async def test_bgp_summary_has_each_neighbor_established_in_the_versions_layout(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, clock: ManualClock, version: str
) -> None:
    router = make_router(version=version)
    await router.start()
    clock.advance(2 * 3600 + 5)
    async with ssh(router, client_key) as conn:
        result = await run(conn, op("show ip bgp summary"))
    text = result.stdout
    assert result.exit_status == 0
    titles = {
        "1.1": None,
        "1.3": "IPv4 Unicast Summary:",
        "1.4": "IPv4 Unicast Summary (VRF default):",
        "1.5": "IPv4 Unicast Summary (VRF default):",
    }
    first = text.splitlines()[0]
    if titles[version] is None:
        assert first == "BGP router identifier 10.0.0.10, local AS number 65002"
    else:
        assert first == titles[version]
    header = next(line for line in text.splitlines() if line.startswith("Neighbor"))
    assert ("PfxSnt" in header) == (version != "1.1")
    assert header.endswith(" Desc") == (version in ("1.4", "1.5"))
    for address in NEIGHBORS:
        (row,) = _rows(text, address)
        assert row[1:3] == ["4", "64512"]
        # Up/Down: established 0.5 s (IPsec) + 1 s (BGP) after boot; then State/PfxRcd
        assert row[8:10] == ["02:00:03", "1"]
        if version != "1.1":
            assert row[10] == "1"  # PfxSnt: the spoke's VPC CIDR
    assert text.rstrip().endswith("Total number of neighbors 2")


@pytest.mark.parametrize("version", VERSIONS)
async def test_vtysh_json_is_frr_json_and_quagga_refuses_it(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, clock: ManualClock, version: str
) -> None:
    router = make_router(version=version)
    await router.start()
    clock.advance(60)
    async with ssh(router, client_key) as conn:
        result = await run(conn, BGP_JSON)
    if version == "1.1":
        assert result.exit_status != 0
        assert result.stdout.strip() == "% Unknown command."
        return
    assert result.exit_status == 0
    body = json.loads(result.stdout)["ipv4Unicast"]
    assert (body["routerId"], body["as"]) == ("10.0.0.10", 65002)
    assert sorted(body["peers"]) == list(NEIGHBORS)
    for peer in body["peers"].values():
        assert (peer["state"], peer["pfxRcd"], peer["remoteAs"]) == ("Established", 1, 64512)
        # established 1.5 s after boot; FRR counts whole seconds
        assert (peer["peerUptime"], peer["peerUptimeMsec"]) == ("00:00:58", 58000)
    assert ("localAs" in body["peers"][NEIGHBORS[0]]) == (version in ("1.4", "1.5"))


@pytest.mark.parametrize("version", VERSIONS)
async def test_ike_and_ipsec_sa_show_both_tunnels_up(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, clock: ManualClock, version: str
) -> None:
    router = make_router(version=version)
    await router.start()
    clock.advance(100)
    async with ssh(router, client_key) as conn:
        ike = (await run(conn, op("show vpn ike sa"))).stdout
        ipsec = (await run(conn, op("show vpn ipsec sa"))).stdout
    for peer in PEERS:
        peer_lines = [line for line in ike.splitlines() if line.startswith(peer)]
        assert len(peer_lines) == 1
        assert peer_lines[0].split()[-1] == "10.0.0.10"
    state_rows = [line.split() for line in ike.splitlines() if line.startswith("    up ")]
    assert len(state_rows) == 2
    if version == "1.1":
        assert "D-H Grp" in ike and "IKEVer" not in ike
        assert state_rows[0][1:4] == ["aes128", "sha1", "2"]
        assert ipsec.count("    Tunnel  State  Bytes Out/In") == 2
        assert [line.split()[:2] for line in ipsec.splitlines() if line.startswith("    vti")] == [
            ["vti", "up"],
            ["vti", "up"],
        ]
        return
    assert state_rows[0][1:5] == ["IKEv2", "AES_CBC_128", "HMAC_SHA1_96", "MODP_1024"]
    lines = ipsec.splitlines()
    assert lines[0].split() == [
        "Connection",
        "State",
        "Uptime",
        "Bytes",
        "In/Out",
        "Packets",
        "In/Out",
        "Remote",
        "address",
        "Remote",
        "ID",
        "Proposal",
    ]
    names = {
        "1.3": ["peer_203-0-113-10_vti", "peer_203-0-113-11_vti"],
        "1.4": ["AWS-1-vti", "AWS-2-vti"],
        "1.5": ["AWS-1-vti", "AWS-2-vti"],
    }[version]
    rows = [line.split() for line in lines[2:]]
    assert [r[0] for r in rows] == names
    assert all(r[1] == "up" and r[-1] == "AES_CBC_128/HMAC_SHA1_96/MODP_1024" for r in rows)
    assert [r[5] for r in rows] == list(PEERS)


@pytest.mark.parametrize("version", VERSIONS)
async def test_show_configuration_in_both_forms(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, version: str
) -> None:
    router = make_router(version=version)
    await router.start()
    async with ssh(router, client_key) as conn:
        boot = (await run(conn, op("show configuration"))).stdout
        commands = (await run(conn, op("show configuration commands"))).stdout.splitlines()
    assert boot.startswith(" interfaces {\n     ethernet eth0 {\n")
    assert "     vti vti0 {\n         address 169.254.10.2/30\n" in boot
    assert '         description "VPC tunnel 1"\n' in boot
    assert commands == router.running_config_commands()
    bgp = "set protocols bgp" if version in ("1.4", "1.5") else "set protocols bgp 65002"
    assert f"{bgp} neighbor 169.254.10.1 remote-as '64512'" in commands
    assert all(line.startswith("set ") for line in commands)


async def test_anything_else_is_refused(
    make_router: RouterFactory, client_key: asyncssh.SSHKey
) -> None:
    router = make_router()
    await router.start()
    async with ssh(router, client_key) as conn:
        invalid = await run(conn, op("show ip bgp neighbors flap"))
        bare = await run(conn, "show ip bgp summary")
        other = await run(conn, "uname -a")
    assert invalid.exit_status == 1
    assert "Invalid command: [show ip bgp neighbors flap]" in invalid.stdout
    assert (bare.exit_status, other.exit_status) == (127, 127)
    assert "show: command not found" in bare.stderr


async def test_host_key_and_client_key_are_checked(
    make_router: RouterFactory, client_key: asyncssh.SSHKey
) -> None:
    router, other = make_router("r1"), make_router("r2")
    await router.start()
    await other.start()
    assert router.known_hosts_line() == f"[127.0.0.1]:{router.port} {router.host_key_public}"
    assert router.host_key_public.startswith("ssh-ed25519 AAAA")
    async with ssh(router, client_key) as conn:
        assert (await run(conn, op("show version"))).exit_status == 0
    wrong = asyncssh.import_known_hosts(f"[127.0.0.1]:{router.port} {other.host_key_public}\n")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        async with ssh(router, client_key, known_hosts=wrong):
            pass
    with pytest.raises(asyncssh.PermissionDenied):
        async with ssh(router, asyncssh.generate_private_key("ssh-ed25519")):
            pass
    with pytest.raises(asyncssh.PermissionDenied):
        async with ssh(router, client_key, username="root"):
            pass


async def test_crash_refuses_connections_and_recovery_boots_the_saved_config(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, clock: ManualClock
) -> None:
    router = make_router()
    port = await router.start()
    clock.advance(5)
    async with ssh(router, client_key) as conn:
        result = await run(
            conn,
            "vbash -s",
            config_script("set protocols static route 10.77.0.0/16 blackhole", "commit"),
        )
        assert result.exit_status == 0
        await router.set_fault(Fault.CRASH)
        await asyncio.wait_for(conn.wait_closed(), 5)
    assert not router.alive
    assert not router.tunnel_up("203.0.113.10")
    with pytest.raises(OSError):
        async with ssh(router, client_key):
            pass
    await router.clear_fault(Fault.CRASH)
    assert router.port == port
    async with ssh(router, client_key) as conn:  # same port, same host key
        commands = (await run(conn, op("show configuration commands"))).stdout
    assert "10.77.0.0/16" not in commands  # committed but never saved: lost in the reboot
    assert router.running_config_commands() == router.saved_config_commands()
    clock.advance(2)
    assert router.tunnel_up("203.0.113.10") and router.bgp_up("203.0.113.10")


async def test_hang_accepts_ssh_but_never_answers_until_cleared(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, clock: ManualClock
) -> None:
    router = make_router()
    await router.start()
    clock.advance(5)
    await router.set_fault(Fault.HANG)
    async with ssh(router, client_key) as conn:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(conn.run(op("show ip bgp summary")), 0.3)
    assert router.tunnel_up("203.0.113.10")  # the dataplane of a hung router keeps going
    await router.clear_fault(Fault.HANG)
    async with ssh(router, client_key) as conn:
        result = await run(conn, op("show ip bgp summary"))
    assert result.exit_status == 0 and "169.254.10.1" in result.stdout


async def test_slow_answers_after_the_delay(
    make_router: RouterFactory, client_key: asyncssh.SSHKey
) -> None:
    router = make_router()
    await router.start()
    await router.set_fault(Fault.SLOW, delay=30.0)
    async with ssh(router, client_key) as conn:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(conn.run(op("show version")), 0.3)
        await router.set_fault(Fault.SLOW, delay=0.01)
        slow = await run(conn, op("show version"))
        await router.clear_fault(Fault.SLOW)
        normal = await run(conn, op("show version"))
    assert slow.exit_status == 0 and slow.stdout == normal.stdout
    assert normal.stdout.startswith("Version:          VyOS 1.4")


async def test_garbage_is_no_known_format(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, clock: ManualClock
) -> None:
    router = make_router(version="1.3")
    await router.start()
    clock.advance(5)
    await router.set_fault(Fault.GARBAGE)
    async with ssh(router, client_key) as conn:
        garbage = [await run(conn, op("show ip bgp summary")), await run(conn, BGP_JSON)]
        await router.clear_fault()
        normal = await run(conn, op("show ip bgp summary"))
    for result in garbage:
        assert result.exit_status == 0
        assert result.stdout.strip() and "Neighbor" not in result.stdout
        with pytest.raises(ValueError):
            json.loads(result.stdout)
    assert garbage[0].stdout != garbage[1].stdout
    assert "Total number of neighbors 2" in normal.stdout


@pytest.mark.parametrize("version", VERSIONS)
async def test_bgp_down_and_ipsec_down_show_in_the_output(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, clock: ManualClock, version: str
) -> None:
    router = make_router(version=version)
    await router.start()
    clock.advance(10)
    async with ssh(router, client_key) as conn:
        await router.set_fault(Fault.BGP_DOWN)
        clock.advance(3)
        bgp = (await run(conn, op("show ip bgp summary"))).stdout
        assert all("Active" in _rows(bgp, a)[0] for a in NEIGHBORS)
        assert router.aws_telemetry(PEERS[0]).status_message == "IPSEC IS UP"
        assert "    up " in (await run(conn, op("show vpn ike sa"))).stdout
        await router.clear_fault(Fault.BGP_DOWN)
        await router.set_fault(Fault.IPSEC_DOWN)
        clock.advance(3)
        ike = await run(conn, op("show vpn ike sa"))
        ipsec = (await run(conn, op("show vpn ipsec sa"))).stdout
        bgp = (await run(conn, op("show ip bgp summary"))).stdout
    assert " up " not in ike.stdout and " up " not in ipsec
    if version == "1.1":  # the Perl format lists configured tunnels as down
        assert ipsec.count("    vti     down   n/a") == 2
    assert all("Connect" in _rows(bgp, a)[0] for a in NEIGHBORS)
    await router.clear_fault(Fault.IPSEC_DOWN)
    clock.advance(1.6)
    assert all(router.bgp_up(p) for p in PEERS)


@pytest.mark.parametrize("version", VERSIONS)
async def test_config_script_commit_changes_running_and_save_changes_boot(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, version: str
) -> None:
    router = make_router(version=version)
    await router.start()
    committed = "set protocols static route 10.88.0.0/16 next-hop 10.2.0.1 distance '5'"
    saved = "set protocols static route 10.99.0.0/16 blackhole distance '7'"
    async with ssh(router, client_key) as conn:
        first = await run(conn, "vbash -s", config_script(committed, "commit"))
        second = await run(conn, "vbash -s", config_script(saved, "commit", "save"))
        shown = (await run(conn, op("show configuration commands"))).stdout.splitlines()
    assert (first.exit_status, second.exit_status) == (0, 0), first.stdout + second.stdout
    assert "Saving configuration to '/config/config.boot'..." in second.stdout
    assert "have not been saved" in first.stdout and "have not been saved" not in second.stdout
    assert committed in shown and saved in shown
    assert committed in router.saved_config_commands()  # save writes the whole running config
    assert "10.99.0.0/16 {" in router.files["/config/config.boot"].decode()


async def test_committed_but_unsaved_changes_stay_out_of_the_boot_config(
    make_router: RouterFactory, client_key: asyncssh.SSHKey
) -> None:
    router = make_router(version="1.1")
    await router.start()
    line = "set system time-zone 'Europe/Berlin'"
    async with ssh(router, client_key) as conn:
        result = await run(conn, "vbash -s", config_script(line, "commit"))
    assert result.exit_status == 0
    assert "Warning: configuration changes have not been saved." in result.stdout
    assert line in router.running_config_commands()
    assert line not in router.saved_config_commands()


@pytest.mark.parametrize("version", VERSIONS)
async def test_invalid_config_fails_commit_with_a_non_zero_exit(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, version: str
) -> None:
    router = make_router(version=version)
    await router.start()
    bgp = "protocols bgp" if version in ("1.4", "1.5") else "protocols bgp 65002"
    before = router.running_config_commands()
    async with ssh(router, client_key) as conn:
        no_remote_as = await run(
            conn,
            "vbash -s",
            config_script(
                f"set {bgp} neighbor 169.254.99.1 timers holdtime '30'", "commit", "exit discard"
            ),
        )
        peer = "AWS-1" if version in ("1.4", "1.5") else "203.0.113.10"
        bad_value = await run(
            conn,
            "vbash -s",
            config_script(
                f"set vpn ipsec site-to-site peer {peer} local-address 'not-an-ip'", "commit"
            ),
        )
        bad_path = await run(
            conn,
            "vbash -s",
            config_script(f"set {bgp} neighbor 169.254.10.1 warp-speed '9'", "commit"),
        )
    assert no_remote_as.exit_status != 0
    assert "Commit failed" in no_remote_as.stdout
    assert 'Neighbor "169.254.99.1" remote-as must be set!' in no_remote_as.stdout
    assert bad_value.exit_status != 0
    assert "Value validation failed" in bad_value.stdout and "Set failed" in bad_value.stdout
    assert bad_path.exit_status != 0
    assert f"Configuration path: [{bgp} neighbor 169.254.10.1 warp-speed 9] is not valid" in (
        bad_path.stdout
    )
    assert router.running_config_commands() == before


def _strip_instance_sections(boot: str) -> str:
    """The runbook's backup: without `interfaces ethernet eth0`, `service` and `system`."""
    kept: list[str] = []
    depth, skipping_from = 0, None
    for line in boot.splitlines():
        stripped = line.strip()
        if (skipping_from is None and stripped in ("service {", "system {") and depth == 0) or (
            skipping_from is None and stripped == "ethernet eth0 {" and depth == 1
        ):
            skipping_from = depth
        if skipping_from is None:
            kept.append(line)
        depth += stripped.endswith("{") - (stripped == "}")
        if skipping_from is not None and stripped == "}" and depth == skipping_from:
            skipping_from = None
    return "\n".join(kept) + "\n"


@pytest.mark.parametrize("version", VERSIONS)
async def test_sftp_upload_and_merge_bring_a_blank_router_up(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, clock: ManualClock, version: str
) -> None:
    source = make_router("spoke1-a", version=version)
    blank = make_router("spoke1-a-new", version=version, config_commands=[])
    await source.start()
    await blank.start()
    async with ssh(source, client_key) as conn:
        backup = _strip_instance_sections((await run(conn, op("show configuration"))).stdout)
    assert "system {" not in backup and "ethernet eth0" not in backup
    async with ssh(blank, client_key) as conn:
        clock.advance(5)
        empty = await run(conn, op("show ip bgp summary"))
        async with conn.start_sftp_client() as sftp, sftp.open("backup.conf", "w") as f:
            await f.write(backup)
        steps = ["delete system ntp"] if version not in ("1.4", "1.5") else []
        script = config_script(*steps, "commit", "merge /home/vyos/backup.conf", "commit", "save")
        restore = await run(conn, "vbash -s", script)
        clock.advance(1.6)
        bgp = (await run(conn, op("show ip bgp summary"))).stdout
        ike = (await run(conn, op("show vpn ike sa"))).stdout
    assert "169.254.10.1" not in empty.stdout
    assert restore.exit_status == 0, restore.stdout + restore.stderr
    assert "Merge complete." in restore.stdout
    assert blank.files["/home/vyos/backup.conf"].decode() == backup
    for address in NEIGHBORS:
        assert _rows(bgp, address)[0][9] == "1"
    assert ike.count("    up ") == 2
    saved = blank.saved_config_commands()
    assert not any(line.startswith("set system ntp") for line in saved)
    assert [c for c in saved if "vpn ipsec" in c] == [
        c for c in source.saved_config_commands() if "vpn ipsec" in c
    ]


async def test_1_4_has_no_system_ntp_to_delete(
    make_router: RouterFactory, client_key: asyncssh.SSHKey
) -> None:
    router = make_router(version="1.4", config_commands=[])
    await router.start()
    async with ssh(router, client_key) as conn:
        result = await run(conn, "vbash -s", config_script("delete system ntp", "commit"))
    assert result.exit_status != 0
    assert "Configuration path: [system ntp] is not valid" in result.stdout
    assert "Delete failed" in result.stdout


@pytest.mark.parametrize("version", VERSIONS)
async def test_reset_commands_drop_and_restore_sessions(
    make_router: RouterFactory, client_key: asyncssh.SSHKey, clock: ManualClock, version: str
) -> None:
    router = make_router(version=version)
    await router.start()
    clock.advance(60)
    async with ssh(router, client_key) as conn:
        reset = await run(conn, op("reset ip bgp 169.254.10.1"))
        just_after = (await run(conn, op("show ip bgp summary"))).stdout
        assert reset.exit_status == 0
        assert "Idle" in _rows(just_after, "169.254.10.1")[0]
        assert _rows(just_after, "169.254.10.5")[0][9] == "1"
        clock.advance(1)
        assert router.bgp_up("203.0.113.10")
        restart = await run(conn, op("restart vpn"))
        assert restart.exit_status == 0
        assert not router.tunnel_up("203.0.113.10") and not router.tunnel_up("203.0.113.11")
        assert router.bgp_up("203.0.113.10")  # the hold timer has not fired
        clock.advance(0.5)
        assert router.tunnel_up("203.0.113.10") and router.tunnel_up("203.0.113.11")
        peer = await run(conn, op("reset vpn ipsec-peer 203.0.113.11"))
        assert peer.exit_status == 0
        assert router.tunnel_up("203.0.113.10") and not router.tunnel_up("203.0.113.11")
        unknown_peer = await run(conn, op("reset vpn ipsec-peer 192.0.2.99"))
        unknown_neighbor = await run(conn, op("reset ip bgp 192.0.2.98"))
    assert unknown_peer.exit_status != 0 and unknown_neighbor.exit_status != 0


async def test_logins_follow_the_running_config(
    make_router: RouterFactory, client_key: asyncssh.SSHKey
) -> None:
    """As on VyOS, `system login user vyos` public keys decide who may log in: a commit that
    removes the key locks its holder out (the next connection is refused)."""
    router = make_router()
    await router.start()
    async with ssh(router, client_key) as conn:
        script = (
            f"source {SCRIPT_TEMPLATE}\nconfigure\n"
            "delete system login user vyos authentication public-keys\ncommit\nexit\n"
        )
        result = await conn.run("vbash -s", input=script)
        assert result.exit_status == 0, result.stdout
    with pytest.raises(asyncssh.PermissionDenied):
        async with ssh(router, client_key):
            pass


async def test_a_host_key_on_disk_before_boot_is_the_one_presented(
    make_router: RouterFactory, client_key: asyncssh.SSHKey
) -> None:
    """vyos-1x service_ssh.py only makes a host key when none is on disk."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    router = make_router(files={"/etc/ssh/ssh_host_ed25519_key": (
        key.export_private_key("openssh"), 0o600, False)})  # fmt: skip
    await router.start()
    async with ssh(router, client_key) as conn:
        live = conn.get_server_host_key()
    assert live is not None and live.public_data == key.public_data


async def test_two_hundred_routers_start_and_stop_on_one_loop(
    client_key: asyncssh.SSHKey, clock: ManualClock
) -> None:
    key_text = client_key.export_public_key().decode()
    fleet = RouterFleet(
        SimulatedRouter(
            f"r{i}",
            version=("1.1", "1.3", "1.4")[i % 3],
            local_as=65002,
            tunnels=spoke_tunnels(),
            authorized_client_key=key_text,
            clock=clock,
            vpc_cidr="10.2.0.0/16",
        )
        for i in range(200)
    )
    async with fleet:
        ports = {router.port for router in fleet}
        assert len(ports) == 200 and 0 not in ports
        clock.advance(5)
        for router in (fleet["r0"], fleet["r100"], fleet["r199"]):
            async with ssh(router, client_key) as conn:
                result = await run(conn, op("show ip bgp summary"))
            assert result.stdout.count("169.254.10.") == 2
    with pytest.raises(OSError):
        async with ssh(fleet["r0"], client_key):
            pass
