"""deploy/prometheus: promtool accepts the rules and their unit tests pass; every alert is
tested firing and not firing, names known metrics, and links to its runbook section."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.common import (
    DOCS,
    RULE_TESTS,
    RULES,
    RUNBOOK_BASE,
    exported_metrics,
    require_tool,
    unknown_references,
)

SEVERITIES = {"critical", "warning", "info"}


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def rule_test_files() -> list[Path]:
    files = sorted(RULE_TESTS.glob("*.yaml"))
    assert files, f"no promtool tests in {RULE_TESTS}"
    return files


def test_promtool_check_rules() -> None:
    promtool = require_tool("promtool")
    out = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in out.stdout


def test_promtool_unit_tests_pass() -> None:
    promtool = require_tool("promtool")
    out = subprocess.run(
        [promtool, "test", "rules", *map(str, rule_test_files())],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=RULE_TESTS,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """The same tests against a rules file with one threshold changed must fail."""
    promtool = require_tool("promtool")
    broken = RULES.read_text(encoding="utf-8").replace(
        "time() - vpnwatch_last_cycle_timestamp_seconds > 60",
        "time() - vpnwatch_last_cycle_timestamp_seconds > 6000",
    )
    assert broken != RULES.read_text(encoding="utf-8")
    (tmp_path / "vpnwatch-rules.yaml").write_text(broken)
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "self.yaml").write_text((RULE_TESTS / "self.yaml").read_text())
    out = subprocess.run(
        [promtool, "test", "rules", "self.yaml"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tests,
    )
    assert out.returncode != 0
    assert "VpnwatchStale" in out.stdout + out.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in rule_test_files():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert doc["rule_files"] == ["../vpnwatch-rules.yaml"], path
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested staying quiet"
    assert (firing | quiet) - names == set(), "tests name alerts that do not exist"


def test_alerts_carry_severity_annotations_and_runbook() -> None:
    operations = (DOCS / "operations.md").read_text(encoding="utf-8")
    headings = {
        m.group(1).lower() for m in re.finditer(r"^##+ +(Vpnwatch[A-Za-z]+)\s*$", operations, re.M)
    }
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)), "duplicate alert names"
    for rule in alert_rules():
        name = rule["alert"]
        assert re.fullmatch(r"Vpnwatch[A-Z][A-Za-z]+", name), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        if not rule["expr"].startswith("absent("):  # absent() has no labels to show
            text = annotations["summary"] + annotations["description"]
            assert "{{" in text, f"{name}: annotations use no template values"
        assert annotations["runbook_url"] == f"{RUNBOOK_BASE}#{name.lower()}", name
        assert name.lower() in headings, f"docs/operations.md has no section for {name}"


def test_rules_reference_only_exported_metrics() -> None:
    metrics = exported_metrics()
    problems = {
        rule["alert"]: unknown_references(rule["expr"], metrics)
        for rule in alert_rules()
        if unknown_references(rule["expr"], metrics)
    }
    assert problems == {}
