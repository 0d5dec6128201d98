"""What `run` would stop on is what `validate-config` reports: exit 2, every problem with its
path, never a traceback (issue 9.7). Process tests: the exit code and stderr are the contract."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.test_config import GOOD, problems, ssh_files
from vpnwatch.configfile import MAX_CONFIG_BYTES, load_config
from vpnwatch.errors import ConfigError


def vpnwatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VPNWATCH_")}
    environ.update(env or {})
    out = subprocess.run(
        [sys.executable, "-m", "vpnwatch", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    return out


def test_everything_run_needs_from_the_machine_is_reported_at_once(tmp_path: Path) -> None:
    ssh_files(tmp_path)
    (tmp_path / "ssh/id").chmod(0o666)  # anyone may read the private key
    (tmp_path / "ssh/known_hosts").unlink()
    (tmp_path / "state").write_text("a file where the state directory should be")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    config = tmp_path / "vpnwatch.yaml"
    config.write_text(
        GOOD.replace("tags: {Name: hub-r2}", "instance_id: i-0123456789abcdef0")
        + f"state_dir: {tmp_path / 'state'}\nmetrics: {{listen: '127.0.0.1:{port}'}}\n"
    )
    try:
        out = vpnwatch("validate-config", str(config))
    finally:
        busy.close()
    assert out.returncode == 2, out.stderr
    assert "instance i-0123456789abcdef0 is given to both hub-r1 and hub-r2" in out.stderr
    # the schema comes first: a config with a schema error is not checked against the machine
    config.write_text(
        GOOD + f"state_dir: {tmp_path / 'state'}\nmetrics: {{listen: '127.0.0.1:{port}'}}\n"
    )
    busy = socket.socket()
    busy.bind(("127.0.0.1", port))
    busy.listen()
    try:
        out = vpnwatch("validate-config", str(config))
        run = vpnwatch("run", "--config", str(config))
    finally:
        busy.close()
    for result in (out, run):
        assert result.returncode == 2, result.stderr
        assert f"state_dir: {tmp_path / 'state'} exists and is not a directory" in result.stderr
        assert f"metrics.listen: 127.0.0.1:{port}: cannot listen there" in result.stderr
        assert "ssh.key_file:" in result.stderr and "has mode 0666" in result.stderr
        assert "ssh.known_hosts: cannot read" in result.stderr


def test_an_unresolvable_listen_address_and_an_uncreatable_state_dir(tmp_path: Path) -> None:
    ssh_files(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    config = tmp_path / "vpnwatch.yaml"
    config.write_text(
        GOOD + f"state_dir: {blocker}/state\nmetrics: {{listen: 'no-such-host.invalid:9810'}}\n"
    )
    out = vpnwatch("validate-config", str(config))
    assert out.returncode == 2
    assert "metrics.listen: no-such-host.invalid:9810: cannot resolve" in out.stderr
    assert f"state_dir: {blocker}/state does not exist and cannot be created" in out.stderr


def test_a_key_owned_by_us_must_be_private(tmp_path: Path) -> None:
    from vpnwatch.startup_checks import machine_problems

    ssh_files(tmp_path)
    path = tmp_path / "vpnwatch.yaml"
    path.write_text(GOOD + f"state_dir: {tmp_path}\nmetrics: {{listen: '127.0.0.1:0'}}\n")
    config = load_config(path, environ={})
    assert machine_problems(config) == []
    (tmp_path / "ssh/id").chmod(0o640)  # ours and group-readable: OpenSSH refuses it too
    assert any("has mode 0640" in p for p in machine_problems(config))


def test_duplicate_yaml_keys_are_refused_with_their_path(tmp_path: Path) -> None:
    text = GOOD + "health:\n  interval: 5\n  failures: 2\n  interval: 10\n"
    found = problems(text)
    assert found == ["<config>: health.interval: duplicate key (line 11 and line 13)"]
    assert problems(GOOD + "state_dir: /a\nstate_dir: /b\n") == [
        "<config>: state_dir: duplicate key (line 10 and line 11)"
    ]


def test_non_finite_durations_are_refused() -> None:
    found = problems(GOOD + "health: {interval: .inf, min_failed_seconds: .nan}\n")
    assert any(p.startswith("health.interval: Input should be a finite number") for p in found)
    assert any(p.startswith("health.min_failed_seconds: Input should be a finite") for p in found)


def test_an_override_that_is_not_json_is_a_config_error_naming_the_variable(tmp_path: Path) -> None:
    found = problems(GOOD, {"VPNWATCH_HEAL__LADDER": "{unreachable: [replace]"})
    assert found == ["VPNWATCH_HEAL__LADDER: not valid JSON (lists and mappings are given as JSON)"]
    assert problems(GOOD, {"VPNWATCH_HEALTHH__INTERVAL": "5"})[0].startswith(
        "VPNWATCH_HEALTHH__INTERVAL: not a config key"
    )
    bad = problems(GOOD, {"VPNWATCH_HEALTH__INTERVAL": "soon"})
    assert bad[0].startswith("health.interval:") and bad[0].endswith(
        "(from VPNWATCH_HEALTH__INTERVAL)"
    )
    path = tmp_path / "vpnwatch.yaml"
    path.write_text(GOOD)
    out = vpnwatch("run", "--config", str(path), env={"VPNWATCH_HEAL__LADDER": "{unreachable: ["})
    assert out.returncode == 2 and "VPNWATCH_HEAL__LADDER: not valid JSON" in out.stderr


def test_the_config_file_is_read_with_a_cap(tmp_path: Path) -> None:
    out = vpnwatch("validate-config", "/dev/zero")  # answers (the helper's timeout would fail)
    assert out.returncode == 2 and "/dev/zero: not a regular file" in out.stderr
    big = tmp_path / "big.yaml"
    big.write_bytes(GOOD.encode() + b"#" * MAX_CONFIG_BYTES)
    with pytest.raises(ConfigError, match="larger than 1024 KiB"):
        load_config(big, environ={})
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(tmp_path, environ={})  # a directory
    with pytest.raises(ConfigError, match=r"cannot read the config file \(No such file"):
        load_config(tmp_path / "missing.yaml", environ={})
