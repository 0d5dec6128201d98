"""VyosClient against small asyncssh servers on 127.0.0.1 that answer real VyOS outputs."""

from __future__ import annotations

import asyncio
import contextlib
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from vpnwatch.adapters import vyos_script as script
from vpnwatch.adapters.vyos import (
    CommitError,
    HostKeyMismatch,
    OutputTooLarge,
    RouterEndpoint,
    SshAuthFailed,
    SshTimeout,
    SshUnreachable,
    UnsafeCommand,
    VyosClient,
)
from vpnwatch.config import SshConfig
from vpnwatch.vocabulary import SshErrorKind

pytestmark = pytest.mark.timeout(60)

# ---------------------------------------------------------------- real outputs (fixtures dir)

# bgp-summary-json/frr-pr7594-idle-admin.txt (FRR, FRRouting/frr PR #7594)
FRR_JSON = """{
"ipv4Unicast":{
  "routerId":"192.168.3.2",
  "as":200,
  "vrfId":0,
  "vrfName":"default",
  "peerCount":1,
  "peers":{
    "192.168.0.1":{
      "hostname":"exit1-debian-9",
      "remoteAs":100,
      "version":4,
      "msgRcvd":5,
      "msgSent":6,
      "peerUptime":"00:00:09",
      "peerUptimeMsec":9000,
      "pfxRcd":0,
      "pfxSnt":0,
      "state":"Idle (Admin)",
      "connectionsEstablished":1,
      "connectionsDropped":1,
      "idType":"ipv4"
    }
  },
  "failedPeers":1,
  "totalPeers":1
}
}
"""
# bgp-summary/vyos11-quagga-napalm-docstring-active-never.txt (VyOS 1.1, Quagga)
QUAGGA_TEXT = """BGP router identifier 192.168.1.2, local AS number 64520
IPv4 Unicast - max multipaths: ebgp 1 ibgp 1
RIB entries 3, using 288 bytes of memory
Peers 3, using 13 KiB of memory

Neighbor        V    AS MsgRcvd MsgSent   TblVer  InQ OutQ Up/Down  State/PfxRcd
192.168.1.1     4 64519    7226    7189        0    0    0 4d23h40m        1
192.168.1.3     4 64521    7132    7103        0    0    0 4d21h05m        0
192.168.1.4     4 64522       0       0        0    0    0 never    Active
"""
# ike-sa/vyos14-doc-site2site-route-peer2-ikev2.txt (VyOS 1.4 documentation)
IKE_SA = """Peer ID / IP                            Local ID / IP
------------                            -------------
10.0.1.2 10.0.1.2                       10.0.2.2 10.0.2.2

    State  IKEVer  Encrypt      Hash          D-H Group      NAT-T  A-Time  L-Time
    -----  ------  -------      ----          ---------      -----  ------  ------
    up     IKEv2   AES_CBC_256  HMAC_SHA1_96  MODP_2048      no     404     27650
"""
# ipsec-sa/vyos14-doc-site2site-route-vti.txt (VyOS 1.4 documentation)
IPSEC_SA = """\
Connection    State    Uptime    Bytes In/Out    Packets In/Out    Remote address    Remote ID    Proposal
------------  -------  --------  --------------  ----------------  ----------------  -----------  ----------------------------------
PEER1-vti     up       3m28s     0B/0B           0/0               10.0.1.2          10.0.1.2     AES_CBC_256/HMAC_SHA1_96/MODP_2048
"""  # noqa: E501
# napalm-vyos PR #48: a real commit failure (VyOS exits 0 anyway)
COMMIT_FAILED = """[ interfaces l2tpv3 l2tpeth1 address 192.168.1/30 ]
Error: 192.168.1/30 is not a valid IP host

[[interfaces l2tpv3 l2tpeth1]] failed
Commit failed
[edit]
"""
QUAGGA_UNKNOWN = "% Unknown command.\n"
SAVED = "[edit]\n[edit]\nSaving configuration to '/config/config.boot'...\nDone\n"

OP = script.OP_WRAPPER
BGP_TEXT_LINE = f"{OP} show ip bgp summary"
IKE_LINE = f"{OP} show vpn ike sa"
IPSEC_LINE = f"{OP} show vpn ipsec sa"
PSK = "Kx7-not-for-logs"


@dataclass
class Answer:
    stdout: str = ""
    exit_status: int = 0
    hang: bool = False


def default_answers() -> dict[str, Answer]:
    return {
        script.BGP_SUMMARY_JSON_LINE: Answer(FRR_JSON),
        BGP_TEXT_LINE: Answer(QUAGGA_TEXT),
        IKE_LINE: Answer(IKE_SA),
        IPSEC_LINE: Answer(IPSEC_SA),
        script.CONFIG_SHELL: Answer(SAVED),
    }


@dataclass
class FakeRouter:
    """A VyOS-like SSH server: canned answers per exec line, SFTP into `root`, counters."""

    root: Path
    client_public_key: str
    host_key: asyncssh.SSHKey = field(
        default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519")
    )
    answers: dict[str, Answer] = field(default_factory=default_answers)
    port: int = 0
    connections: int = 0
    commands: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    command_seen: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncssh.SSHAcceptor | None = None
    _conns: set[asyncssh.SSHServerConnection] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def public_key(self) -> str:
        return self.host_key.export_public_key().decode().strip()

    async def start(self) -> None:
        router = self

        class Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                router.connections += 1
                router._conns.add(conn)

            def connection_lost(self, exc: Exception | None) -> None:
                router._conns = {c for c in router._conns if not c.is_closed()}

        self._server = await asyncssh.create_server(
            Server, "127.0.0.1", self.port, reuse_address=True,
            server_host_keys=[self.host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(self.client_public_key),
            process_factory=self._handle,
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(self.root).encode()),
        )  # fmt: skip
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """The router dies: listener gone, every connection dropped."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        conns, self._conns = list(self._conns), set()
        for conn in conns:
            conn.abort()
        await asyncio.gather(*(c.wait_closed() for c in conns), return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, process: asyncssh.SSHServerProcess[str]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            command = process.command or ""
            self.commands.append(command)
            self.command_seen.set()
            answer = self.answers.get(command, Answer(f"\n  Invalid command: [{command}]\n\n", 1))
            if command == script.CONFIG_SHELL:
                self.scripts.append(await process.stdin.read())
            if answer.hang:
                await process.wait_closed()  # until the client gives up on the channel
                return
            with contextlib.suppress(OSError, asyncssh.Error):
                process.stdout.write(answer.stdout)
                process.exit(answer.exit_status)
        finally:
            self._tasks.discard(task)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Lab:
    tmp: Path
    client_key: Path
    client_public_key: str
    known_hosts: Path
    clock: Clock
    routers: list[FakeRouter] = field(default_factory=list)
    clients: list[VyosClient] = field(default_factory=list)

    async def router(self, **answers: Answer) -> FakeRouter:
        root = self.tmp / f"router{len(self.routers)}"
        (root / "config").mkdir(parents=True)
        router = FakeRouter(root, self.client_public_key)
        await router.start()
        self.routers.append(router)
        self.trust(router)
        return router

    def trust(self, router: FakeRouter, key: str | None = None) -> None:
        with self.known_hosts.open("a") as f:
            f.write(f"[127.0.0.1]:{router.port} {key or router.public_key}\n")

    def client(self, **overrides: Any) -> VyosClient:
        settings = SshConfig(
            user="vyos",
            key_file=self.client_key,
            known_hosts=self.known_hosts,
            connect_timeout=5.0,
            command_timeout=5.0,
            keepalive_interval=30.0,
            max_concurrency=16,
            max_output_bytes=1 << 16,
        )
        client = VyosClient(settings.model_copy(update=overrides), clock=self.clock)
        self.clients.append(client)
        return client


def endpoint(
    router: FakeRouter, name: str = "r1", trusted_host_keys: tuple[str, ...] = ()
) -> RouterEndpoint:
    return RouterEndpoint(name, "127.0.0.1", router.port, trusted_host_keys)


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "id_ed25519"
    key.write_private_key(str(key_file))
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    the_lab = Lab(tmp_path, key_file, key.export_public_key().decode(), known_hosts, Clock())
    try:
        yield the_lab
    finally:
        for client in the_lab.clients:
            await client.close()
        for router in the_lab.routers:
            await router.stop()


# ---------------------------------------------------------------- observe


async def test_observe_parses_bgp_ike_and_ipsec(lab: Lab) -> None:
    router = await lab.router()
    view = await lab.client().observe(endpoint(router))
    assert (view.router, view.reachable, view.error, view.error_kind) == ("r1", True, None, None)
    assert view.bgp is not None and view.ike is not None and view.ipsec is not None
    (neighbor,) = view.bgp.neighbors
    assert (neighbor.neighbor, neighbor.remote_as, neighbor.state) == (
        "192.168.0.1",
        100,
        "Idle (Admin)",
    )
    (ike,) = view.ike.ike_sas
    assert (ike.peer, ike.state, ike.ike_version, ike.lifetime_seconds) == (
        "10.0.1.2",
        "up",
        "IKEv2",
        27650,
    )
    (ipsec,) = view.ipsec.ipsec_sas
    assert (ipsec.connection, ipsec.state, ipsec.uptime_seconds) == ("PEER1-vti", "up", 208)
    assert sorted(router.commands) == sorted([script.BGP_SUMMARY_JSON_LINE, IKE_LINE, IPSEC_LINE])


async def test_one_connection_is_reused_across_observations_and_commands(lab: Lab) -> None:
    router = await lab.router()
    client = lab.client()
    first = await client.observe(endpoint(router))
    second = await client.observe(endpoint(router))
    text = await client.run_op(endpoint(router), "show vpn ike sa")
    assert first.error is None and second.error is None
    assert text == IKE_SA
    assert router.connections == 1
    assert len(router.commands) == 7


async def test_a_hung_router_times_out_without_stalling_another(lab: Lab) -> None:
    hung = await lab.router()
    for answer in hung.answers.values():
        answer.hang = True
    good = await lab.router()
    client = lab.client(command_timeout=0.5)
    hung_task = asyncio.create_task(client.observe(endpoint(hung, "hung")))
    good_task = asyncio.create_task(client.observe(endpoint(good, "good")))
    done, _ = await asyncio.wait({hung_task, good_task}, return_when=asyncio.FIRST_COMPLETED)
    assert done == {good_task}, "the healthy router must not wait for the hung one"
    hung_view, good_view = await hung_task, good_task.result()
    assert good_view.error is None and good_view.bgp is not None
    assert (hung_view.reachable, hung_view.error_kind) == (False, SshErrorKind.TIMEOUT)
    assert "0.5s" in (hung_view.error or "")
    with pytest.raises(SshTimeout):
        await client.run_op(endpoint(hung, "hung"), "show vpn ike sa")


async def test_output_over_the_cap_is_cut_off_and_the_connection_survives(lab: Lab) -> None:
    router = await lab.router()
    router.answers[IKE_LINE] = Answer("x" * 200_000)
    client = lab.client(max_output_bytes=4096)
    with pytest.raises(OutputTooLarge, match="4096 bytes"):
        await client.run_op(endpoint(router), "show vpn ike sa")
    view = await client.observe(endpoint(router))
    assert (view.reachable, view.error_kind) == (True, SshErrorKind.PARSE)
    assert view.bgp is not None and view.ipsec is not None and view.ike is None
    assert await client.run_op(endpoint(router), "show vpn ipsec sa") == IPSEC_SA
    assert router.connections == 1


async def test_json_refusal_falls_back_to_text_and_is_remembered(lab: Lab) -> None:
    router = await lab.router()
    router.answers[script.BGP_SUMMARY_JSON_LINE] = Answer(QUAGGA_UNKNOWN, exit_status=1)
    client = lab.client()
    for _ in range(2):
        view = await client.observe(endpoint(router))
        assert view.error is None, view.error
        assert view.bgp is not None
        assert [n.state for n in view.bgp.neighbors] == ["Established", "Established", "Active"]
        assert view.bgp.neighbors[0].prefixes_received == 1
    assert router.commands.count(script.BGP_SUMMARY_JSON_LINE) == 1
    assert router.commands.count(BGP_TEXT_LINE) == 2


async def test_unparsable_answer_reads_as_parse_not_as_down(lab: Lab) -> None:
    router = await lab.router()
    router.answers[IPSEC_LINE] = Answer("Segmentation fault\n")
    view = await lab.client().observe(endpoint(router))
    assert (view.reachable, view.error_kind) == (True, SshErrorKind.PARSE)
    assert view.error is not None and view.error.startswith("show vpn ipsec sa:")
    assert view.bgp is not None and view.ike is not None


async def test_no_sas_at_all_is_an_empty_list(lab: Lab) -> None:
    router = await lab.router()
    router.answers[IKE_LINE] = Answer("\n")
    view = await lab.client().observe(endpoint(router))
    assert view.error is None, view.error
    assert view.ike is not None and view.ike.ike_sas == ()


async def test_failing_command_reads_as_command_error(lab: Lab) -> None:
    router = await lab.router()
    del router.answers[IKE_LINE]  # the fake answers "Invalid command" with exit status 1
    view = await lab.client().observe(endpoint(router))
    assert (view.reachable, view.error_kind) == (True, SshErrorKind.COMMAND)
    assert "Invalid command" in (view.error or "")


# ---------------------------------------------------------------- host keys and auth


async def test_changed_host_key_is_refused_with_both_fingerprints(lab: Lab) -> None:
    router = await lab.router()
    lab.known_hosts.write_text("")
    old = asyncssh.generate_private_key("ssh-ed25519")
    lab.trust(router, old.export_public_key().decode().strip())
    client = lab.client()
    view = await client.observe(endpoint(router))
    assert (view.reachable, view.error_kind) == (False, SshErrorKind.HOST_KEY)
    with pytest.raises(HostKeyMismatch) as info:
        await client.run_op(endpoint(router, "r9"), "show vpn ike sa")
    message = str(info.value)
    assert message.startswith("r9: host key of 127.0.0.1:")
    assert router.host_key.get_fingerprint() in message
    assert old.get_fingerprint() in message
    assert "PRIVATE" not in message
    assert info.value.presented == f"ssh-ed25519 {router.host_key.get_fingerprint()}"
    assert info.value.expected == (f"ssh-ed25519 {old.get_fingerprint()}",)
    assert router.commands == []


async def test_unknown_host_is_refused(lab: Lab) -> None:
    router = await lab.router()
    lab.known_hosts.write_text(f"[127.0.0.1]:{router.port + 1} {router.public_key}\n")
    view = await lab.client().observe(endpoint(router))
    assert (view.reachable, view.error_kind) == (False, SshErrorKind.HOST_KEY)
    assert "unknown" in (view.error or "") and str(lab.known_hosts) in (view.error or "")
    assert router.commands == []


async def test_trusted_host_keys_replace_known_hosts(lab: Lab) -> None:
    router = await lab.router()
    lab.known_hosts.write_text("")
    client = lab.client()
    pinned = endpoint(router, trusted_host_keys=(router.public_key,))
    view = await client.observe(pinned)
    assert view.error is None, view.error
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    view = await client.observe(endpoint(router, "r2", trusted_host_keys=(other,)))
    assert view.error_kind is SshErrorKind.HOST_KEY
    assert "trusted_host_keys" in (view.error or "")


async def test_fetch_host_key_returns_the_live_key_without_logging_in(lab: Lab) -> None:
    router = await lab.router()
    lab.known_hosts.write_text("")  # not trusted: fetching must still work
    key = await lab.client().fetch_host_key(endpoint(router))
    assert key == " ".join(router.public_key.split()[:2])
    assert router.commands == []


async def test_refused_client_key_is_an_auth_error(lab: Lab) -> None:
    router = await lab.router()
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    other_key = lab.tmp / "other_key"
    stranger.write_private_key(str(other_key))
    view = await lab.client(key_file=other_key).observe(endpoint(router))
    assert (view.reachable, view.error_kind) == (False, SshErrorKind.AUTH)
    with pytest.raises(SshAuthFailed):
        await lab.client(key_file=lab.tmp / "missing_key").run_op(
            endpoint(router), "show vpn ike sa"
        )


# ---------------------------------------------------------------- reconnect and backoff


async def test_crash_then_restart_reconnects_only_after_the_backoff(lab: Lab) -> None:
    router = await lab.router()
    client = lab.client(reconnect_backoff_initial=2.0)
    assert (await client.observe(endpoint(router))).error is None
    await router.stop()
    for _ in range(3):  # a stale connection may cost one observation, then connects are refused
        view = await client.observe(endpoint(router))
        assert (view.reachable, view.error_kind) == (False, SshErrorKind.UNREACHABLE)
        if "next attempt" in (view.error or ""):
            break
    else:
        pytest.fail("client never entered backoff")
    await router.start()  # same port
    view = await client.observe(endpoint(router))
    assert "next attempt" in (view.error or ""), "no connect attempt during the backoff"
    assert router.connections == 1
    lab.clock.now += 2.01
    view = await client.observe(endpoint(router))
    assert view.error is None, view.error
    assert router.connections == 2


async def test_backoff_doubles_between_failed_connects(lab: Lab) -> None:
    attempts: list[int] = []

    async def slam(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        attempts.append(1)
        writer.close()

    listener = await asyncio.start_server(slam, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    dead = RouterEndpoint("dead", "127.0.0.1", port)
    client = lab.client(reconnect_backoff_initial=1.0, reconnect_backoff_max=3.0)
    try:
        expected_attempts = 0
        for wait in (0.0, 1.01, 2.01, 3.01, 3.01):  # delays 1, 2, 3 (capped), 3
            lab.clock.now += wait
            view = await client.observe(dead)
            expected_attempts += 1
            assert view.error_kind is SshErrorKind.UNREACHABLE
            assert len(attempts) == expected_attempts
            lab.clock.now += 0.9  # inside every delay: no attempt
            assert "next attempt" in ((await client.observe(dead)).error or "")
            assert len(attempts) == expected_attempts
            lab.clock.now -= 0.9
        client.reset_backoff(dead)
        await client.observe(dead)
        assert len(attempts) == expected_attempts + 1
    finally:
        listener.close()
        await listener.wait_closed()


async def test_router_dying_under_a_command_is_unreachable_not_a_failed_command(
    lab: Lab,
) -> None:
    router = await lab.router()
    router.answers[IKE_LINE].hang = True
    client = lab.client(command_timeout=30.0)
    command = asyncio.create_task(client.run_op(endpoint(router), "show vpn ike sa"))
    await router.command_seen.wait()
    await router.stop()
    with pytest.raises(SshUnreachable):
        await command


async def test_nothing_listening_is_unreachable(lab: Lab) -> None:
    router = await lab.router()
    port = router.port
    await router.stop()
    view = await lab.client().observe(RouterEndpoint("gone", "127.0.0.1", port))
    assert (view.reachable, view.error_kind) == (False, SshErrorKind.UNREACHABLE)
    with pytest.raises(SshUnreachable):
        await lab.client().run_op(RouterEndpoint("gone", "127.0.0.1", port), "show vpn ike sa")


# ---------------------------------------------------------------- config and upload


async def test_run_config_sends_one_script_and_returns_the_cleaned_answer(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    router = await lab.router()
    commands = [
        "delete system ntp",
        f"set vpn ipsec site-to-site peer 203.0.113.7 authentication pre-shared-secret '{PSK}'",
    ]
    out = await lab.client().run_config(endpoint(router), commands)
    assert out == ""
    assert router.commands == ["vbash -s"]
    assert router.scripts == [script.build_config_script(commands)]
    assert PSK not in capsys.readouterr().out


async def test_commit_failure_raises_with_the_routers_words_and_no_secret(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    router = await lab.router()
    router.answers[script.CONFIG_SHELL] = Answer(
        f"Configuration path: [vpn ipsec authentication pre-shared-secret {PSK}] is not valid\n"
        + COMMIT_FAILED
    )
    commands = [f"set vpn ipsec authentication pre-shared-secret '{PSK}'"]
    with pytest.raises(CommitError) as info:
        await lab.client().run_config(endpoint(router), commands, save=False)
    message = str(info.value)
    assert "configuration path is not valid" in message
    assert PSK not in message
    assert info.value.exit_status == 0
    assert PSK not in capsys.readouterr().out
    router.answers[script.CONFIG_SHELL] = Answer(COMMIT_FAILED)
    with pytest.raises(CommitError, match=r"Commit failed"):
        await lab.client().run_config(endpoint(router), ["set system host-name 'r1'"])


async def test_unsafe_config_is_refused_before_anything_is_sent(lab: Lab) -> None:
    router = await lab.router()
    with pytest.raises(UnsafeCommand):
        await lab.client().run_config(endpoint(router), ["set system host-name r1\nreboot"])
    assert router.connections == 0 and router.commands == []


async def test_upload_writes_the_file_with_its_mode(lab: Lab) -> None:
    router = await lab.router()
    target = router.root / "config" / "restore.boot"
    target.write_text("old, world readable")
    target.chmod(0o644)
    data = b"interfaces {\n  ethernet eth1 {\n  }\n}\n"
    await lab.client().upload(endpoint(router), "/config/restore.boot", data)
    assert target.read_bytes() == data
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


async def test_failed_upload_names_the_path_not_the_content(lab: Lab) -> None:
    router = await lab.router()
    with pytest.raises(Exception, match="/nonexistent/dir/file") as info:
        await lab.client().upload(endpoint(router), "/nonexistent/dir/file", b"secret-bytes")
    assert "secret-bytes" not in str(info.value)


async def test_closed_client_refuses_work(lab: Lab) -> None:
    router = await lab.router()
    client = lab.client()
    await client.observe(endpoint(router))
    await client.close()
    view = await client.observe(endpoint(router))
    assert (view.reachable, view.error_kind) == (False, SshErrorKind.UNREACHABLE)
