"""deploy/systemd/vpnwatch.service: parses, is hardened, and the daemon's stack runs under it.

systemd-analyze verify checks that ExecStart's binary exists, and /opt/vpnwatch/bin/vpnwatch
does not exist in CI, so the unit is verified as a copy whose ExecStart path points at a
stub executable; every other line is byte-identical.
"""

from __future__ import annotations

import errno
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.common import DOCS, UNIT, require_tool

EXEC_START = "/opt/vpnwatch/bin/vpnwatch run --config /etc/vpnwatch/config.yaml"
MAX_EXPOSURE = 2.0
_EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+) (\S+)")
HERE = Path(__file__).resolve().parent


def unit_settings(text: str) -> dict[str, list[str]]:
    """Key -> values of the [Service] section (keys may repeat, as in systemd)."""
    settings: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section == "Service":
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


@pytest.fixture
def verifiable_unit(tmp_path: Path) -> Path:
    text = UNIT.read_text(encoding="utf-8")
    assert unit_settings(text)["ExecStart"] == [EXEC_START]
    stub = tmp_path / "vpnwatch"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    copy = tmp_path / "vpnwatch.service"
    copy.write_text(text.replace("ExecStart=/opt/vpnwatch/bin/vpnwatch ", f"ExecStart={stub} "))
    return copy


def exposure(unit: Path) -> tuple[float, str]:
    tool = require_tool("systemd-analyze")
    out = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = _EXPOSURE.search(out.stdout)
    assert match, f"no exposure line in systemd-analyze output:\n{out.stdout}\n{out.stderr}"
    return float(match.group(1)), match.group(2)


def test_unit_verifies_cleanly(verifiable_unit: Path) -> None:
    tool = require_tool("systemd-analyze")
    out = subprocess.run(
        [tool, "verify", "--man=no", str(verifiable_unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr


def test_verify_catches_a_broken_unit(tmp_path: Path, verifiable_unit: Path) -> None:
    tool = require_tool("systemd-analyze")
    broken = tmp_path / "broken" / "vpnwatch.service"
    broken.parent.mkdir()
    broken.write_text(verifiable_unit.read_text().replace("Type=notify", "Type=notifyy"))
    out = subprocess.run(
        [tool, "verify", "--man=no", str(broken)], capture_output=True, text=True, timeout=60
    )
    # A parse warning still exits 0: the clean-unit test therefore also requires empty stderr.
    assert "Failed to parse service type" in out.stderr


def test_security_exposure_is_at_most_2(verifiable_unit: Path) -> None:
    level, verdict = exposure(verifiable_unit)
    assert level <= MAX_EXPOSURE, f"exposure {level} {verdict}"


def test_recorded_exposure_in_docs_is_current(verifiable_unit: Path) -> None:
    level, verdict = exposure(verifiable_unit)
    recorded = re.search(
        r"Overall exposure level for vpnwatch\.service: (\d+\.\d+) (\S+)",
        (DOCS / "deploy.md").read_text(encoding="utf-8"),
    )
    assert recorded, "docs/deploy.md does not record the exposure level"
    assert (float(recorded.group(1)), recorded.group(2)) == (level, verdict)


def test_unit_carries_the_required_settings() -> None:
    s = unit_settings(UNIT.read_text(encoding="utf-8"))
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "WatchdogSec": "30",
        "Restart": "on-failure",
        "StateDirectory": "vpnwatch",
        "ConfigurationDirectory": "vpnwatch",
        "LogsDirectory": "vpnwatch",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "SystemCallArchitectures": "native",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "ProtectProc": "invisible",
        "ProcSubset": "pid",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "UMask": "0077",
        "ExecReload": "/bin/kill -HUP $MAINPID",  # the daemon reloads its config on SIGHUP
    }
    actual = {key: s.get(key, ["<missing>"])[-1] for key in expected}
    assert actual == expected
    assert s["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]
    assert "RestartSec" in s
    # It must reach AWS (443) and the routers (22): no network sandbox that blocks that.
    assert "PrivateNetwork" not in s and "IPAddressDeny" not in s
    # A non-root identity.
    assert s.get("DynamicUser") == ["yes"] or s.get("User", ["root"])[-1] not in ("root", "0")


# ---------------------------------------------------------------- sandbox emulation


def syscall_groups() -> dict[str, list[str]]:
    tool = require_tool("systemd-analyze")
    out = subprocess.run(
        [tool, "syscall-filter", "--no-pager"], capture_output=True, text=True, timeout=60
    )
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in out.stdout.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif line.startswith("    ") and current is not None:
            item = line.strip()
            if item and not item.startswith("#"):
                current.append(item)
        else:
            current = None
    assert "@system-service" in groups, out.stdout[:500]
    return groups


def expand(item: str, groups: dict[str, list[str]]) -> set[str]:
    if not item.startswith("@"):
        return {item}
    return set().union(*(expand(x, groups) for x in groups[item]))


def allowed_syscalls(filters: list[str], groups: dict[str, list[str]]) -> set[str]:
    """systemd's rule: the first line makes an allow list, later ~lines remove from it."""
    assert filters and not filters[0].startswith("~"), "expected an allow list first"
    allowed: set[str] = set()
    for line in filters:
        deny = line.startswith("~")
        items = set().union(*(expand(x, groups) for x in line.lstrip("~").split()))
        allowed = allowed - items if deny else allowed | items
    return allowed


def test_filter_expansion_follows_systemd_rules() -> None:
    groups = syscall_groups()
    allowed = allowed_syscalls(["@system-service", "~@privileged @resources"], groups)
    assert {"read", "execve", "socket", "mmap", "epoll_wait"} <= allowed
    assert not {"setgroups", "setuid", "setrlimit", "sched_setaffinity", "reboot"} & allowed


def test_daemon_stack_runs_under_the_units_seccomp_and_mdwe(tmp_path: Path) -> None:
    system_python = Path("/usr/bin/python3")
    probe = subprocess.run(
        [str(system_python), "-c", "import seccomp"], capture_output=True, timeout=60
    )
    if probe.returncode != 0:
        pytest.skip("Debian python3-seccomp is missing (.ci/deploy-checks.sh installs it)")
    s = unit_settings(UNIT.read_text(encoding="utf-8"))
    spec = {
        "allow": sorted(allowed_syscalls(s["SystemCallFilter"], syscall_groups())),
        "families": [getattr(socket, f) for f in s["RestrictAddressFamilies"][-1].split()],
        "errno": getattr(errno, s["SystemCallErrorNumber"][-1]),
    }
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    out = subprocess.run(
        [
            str(system_python),
            str(HERE / "sandbox_exec.py"),
            str(spec_file),
            "--",
            sys.executable,
            str(HERE / "sandbox_smoke.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, f"stdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    assert out.stdout.strip().endswith("sandbox smoke ok")
