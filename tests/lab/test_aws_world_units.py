"""Pure parts of the emulated AWS: telemetry steps, tunnel plans, fault rules, runtime records."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vpnwatch.lab.cli import main as lab_main
from vpnwatch.lab.faults import FaultInjector, default_status
from vpnwatch.lab.runtime import (
    RuntimeRecord,
    endpoint_from_config,
    remove_record,
    running_worlds,
    the_running_world,
    write_record,
)
from vpnwatch.lab.safety import LabError, NotLoopbackError, is_loopback_host
from vpnwatch.lab.telemetry import TunnelRecord, TunnelRef, TunnelState, next_record
from vpnwatch.lab.vpn_details import (
    AddressPool,
    RequestedTunnel,
    check_inside_cidr,
    new_psk,
    requested_tunnels,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
REF = TunnelRef("us-east-1", "vpn-1", "198.51.100.1", "cgw-1", "127.0.0.5", "169.254.10.0/30")


def _up_record() -> TunnelRecord:
    return TunnelRecord(REF, "UP", 1, "", T0)


# ---------------------------------------------------------------- telemetry


def test_source_verdict_waits_for_the_detection_delay() -> None:
    down = TunnelState.down()
    rec = next_record(_up_record(), None, down, now=10.0, wall=T0, detection_delay=3.0)
    assert (rec.status, rec.pending) == ("UP", (down, 10.0))
    rec = next_record(rec, None, down, now=12.9, wall=T0, detection_delay=3.0)
    assert rec.status == "UP"
    later = T0 + timedelta(seconds=13)
    rec = next_record(rec, None, down, now=13.0, wall=later, detection_delay=3.0)
    assert (rec.status, rec.accepted_route_count, rec.status_message) == (
        "DOWN",
        0,
        "IPSEC IS DOWN",
    )
    assert (rec.last_status_change, rec.pending) == (later, None)


def test_a_blip_shorter_than_the_delay_is_never_shown() -> None:
    rec = next_record(_up_record(), None, TunnelState.down(), 10.0, T0, 3.0)
    rec = next_record(rec, None, TunnelState.up(), 11.0, T0, 3.0)
    assert rec.pending is None
    rec = next_record(rec, None, TunnelState.down(), 12.0, T0, 3.0)
    rec = next_record(rec, None, TunnelState.down(), 14.0, T0, 3.0)
    assert rec.status == "UP"  # the second DOWN started at 12.0, not 10.0


def test_override_applies_at_once_and_source_silence_keeps_state() -> None:
    wall = T0 + timedelta(minutes=1)
    rec = next_record(_up_record(), TunnelState("DOWN"), TunnelState.up(), 1.0, wall, 3.0)
    assert (rec.status, rec.overridden, rec.last_status_change) == ("DOWN", True, wall)
    rec = next_record(rec, None, None, 2.0, T0 + timedelta(minutes=2), 3.0)
    assert (rec.status, rec.overridden, rec.last_status_change) == ("DOWN", False, wall)


def test_route_count_changes_without_moving_last_status_change() -> None:
    rec = next_record(_up_record(), None, TunnelState.up(3), 1.0, T0 + timedelta(hours=1), 3.0)
    assert (rec.accepted_route_count, rec.last_status_change) == (3, T0)


def test_tunnel_state_rejects_other_words() -> None:
    with pytest.raises(LabError, match="UP or DOWN"):
        TunnelState("MAYBE")  # type: ignore[arg-type]


# ---------------------------------------------------------------- tunnel plans


def test_address_pool_never_repeats_and_skips_reserved() -> None:
    pool = AddressPool()
    plans = [t for _ in range(200) for t in pool.plan()]
    assert len({t.outside_ip for t in plans}) == len(plans) == 400
    assert len({t.inside_cidr for t in plans}) == 400
    assert "169.254.169.252/30" not in {t.inside_cidr for t in plans}
    assert all(not t.inside_cidr.startswith(("169.254.0.", "169.254.5.")) for t in plans)


def test_address_pool_honours_requests_and_refuses_clashes() -> None:
    pool = AddressPool()
    asked = (RequestedTunnel("169.254.10.0/30", "abcdefgh"),)
    first, second = pool.plan(asked)
    assert (first.inside_cidr, first.psk) == ("169.254.10.0/30", "abcdefgh")
    assert second.inside_cidr != "169.254.10.0/30"
    with pytest.raises(LabError, match="already used"):
        pool.check(asked)
    with pytest.raises(LabError, match="already used"):
        AddressPool().plan((RequestedTunnel("169.254.99.0/30"), RequestedTunnel("169.254.99.0/30")))


@pytest.mark.parametrize(
    "cidr", ["169.254.10.1/30", "169.254.10.0/29", "10.0.0.0/30", "169.254.3.0/30", "nope"]
)
def test_inside_cidr_must_be_an_acceptable_slash_30(cidr: str) -> None:
    with pytest.raises(LabError, match="TunnelInsideCidr"):
        check_inside_cidr(cidr)


def test_requested_tunnels_reads_query_params() -> None:
    params = {
        "Options.TunnelOptions.1.TunnelInsideCidr": "169.254.50.4/30",
        "Options.TunnelOptions.2.PreSharedKey": "second_key.1",
    }
    assert requested_tunnels(params) == (
        RequestedTunnel("169.254.50.4/30", None),
        RequestedTunnel(None, "second_key.1"),
    )
    with pytest.raises(LabError, match="PreSharedKey"):
        requested_tunnels({"Options.TunnelOptions.1.PreSharedKey": "0short"})


def test_psks_are_random_and_acceptable() -> None:
    keys = {new_psk() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(k) == 32 and k.isalnum() and not k.startswith("0") for k in keys)


# ---------------------------------------------------------------- fault rules


def test_rules_run_out_in_order() -> None:
    faults = FaultInjector()
    faults.add("A", "X", count=1)
    faults.add("A", "Y", count=2)
    taken = [faults.take("A") for _ in range(4)]
    assert [r.code if r else None for r in taken] == ["X", "Y", "Y", None]
    assert faults.take(None) is None


def test_default_statuses_follow_aws() -> None:
    assert default_status("RequestLimitExceeded") == 503
    assert default_status("InternalError") == 500
    assert default_status("InvalidInstanceID.NotFound") == 400


@pytest.mark.parametrize(
    ("host", "ok"),
    [("127.0.0.1", True), ("127.9.8.7", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.1", False),
     ("127.0.0.1.example.com", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, ok: bool) -> None:
    assert is_loopback_host(host) is ok


# ---------------------------------------------------------------- runtime records


def _record(pid: int) -> RuntimeRecord:
    return RuntimeRecord(pid, "http://127.0.0.1:1", "/c.yaml", "/s", "us-east-1", "t", 6, 8, 16)


def test_runtime_record_round_trip_and_cleanup(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="no running lab world"):
        the_running_world(tmp_path)
    path = write_record(_record(os.getpid()), tmp_path)
    assert path.name == f"world-{os.getpid()}.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert the_running_world(tmp_path) == _record(os.getpid())
    remove_record(path)
    assert running_worlds(tmp_path) == []


def test_dead_worlds_are_ignored_and_two_live_ones_are_ambiguous(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    write_record(_record(int(dead.stdout)), tmp_path)
    assert running_worlds(tmp_path) == []
    write_record(_record(os.getpid()), tmp_path)
    write_record(_record(os.getppid()), tmp_path)
    with pytest.raises(LabError, match="several lab worlds"):
        the_running_world(tmp_path)


def test_endpoint_from_config_checks_what_it_reads(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("aws: {endpoint_url: 'http://127.0.0.1:4566'}\n")
    assert endpoint_from_config(cfg) == "http://127.0.0.1:4566"
    cfg.write_text("aws: {region: us-east-1}\n")
    with pytest.raises(LabError, match="endpoint_url is not set"):
        endpoint_from_config(cfg)
    cfg.write_text("aws: {endpoint_url: 'https://ec2.amazonaws.com'}\n")
    with pytest.raises(NotLoopbackError):
        endpoint_from_config(cfg)
    with pytest.raises(LabError, match="cannot read"):
        endpoint_from_config(tmp_path / "missing.yaml")


# ---------------------------------------------------------------- command line


@pytest.mark.parametrize("argv", [[], ["serve"], ["state"], ["aws-fault"], ["tunnel"]])
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        lab_main([*argv, "--help"])
    assert exc.value.code == 0
    assert "usage: vpnwatch lab" in capsys.readouterr().out


def test_commands_without_a_world_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert lab_main(["state", "--json"]) == 1
    assert "no running lab world" in capsys.readouterr().err
    assert lab_main(["tunnel", "vpn-1", "198.51.100.1", "down", "--config", "/nope.yaml"]) == 1
    assert "cannot read the config" in capsys.readouterr().err
