"""Paths and small parsers shared by the deploy-artifact tests."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCS = REPO / "docs"
UNIT = DEPLOY / "systemd" / "vpnwatch.service"
RULES = DEPLOY / "prometheus" / "vpnwatch-rules.yaml"
RULE_TESTS = DEPLOY / "prometheus" / "tests"
CHART = DEPLOY / "helm" / "vpnwatch"
DASHBOARD = DEPLOY / "grafana" / "vpnwatch-dashboard.json"
POLICY = DEPLOY / "iam" / "policy.json"
METRICS = DEPLOY / "metrics.txt"
# The runbook base the rules file carries; the chart can rewrite it.
RUNBOOK_BASE = "https://github.com/vpnwatch/vpnwatch/blob/main/docs/operations.md"

_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_METRIC_NAME = re.compile(r"\bvpnwatch_[a-z_]+\b")
# A selector body directly after a metric name: name{...}
_SELECTOR = re.compile(r"\b(vpnwatch_[a-z_]+)\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str
    labels: frozenset[str]


def exported_metrics() -> dict[str, Metric]:
    """deploy/metrics.txt: what the daemon exports (name -> metric)."""
    metrics: dict[str, Metric] = {}
    for line in METRICS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, kind, labels = line.split()
        metrics[name] = Metric(
            name, kind, frozenset() if labels == "-" else frozenset(labels.split(","))
        )
    return metrics


def base_metric(sample_name: str, metrics: dict[str, Metric]) -> Metric | None:
    """The exported metric a sample name belongs to (histogram suffixes map to the base)."""
    if sample_name in metrics:
        return metrics[sample_name]
    for suffix in _HISTOGRAM_SUFFIXES:
        base = sample_name.removesuffix(suffix)
        if base != sample_name and base in metrics and metrics[base].kind == "histogram":
            return metrics[base]
    return None


def unknown_references(expr: str, metrics: dict[str, Metric]) -> list[str]:
    """Metric names and selector labels in a PromQL expression that the daemon does not export."""
    problems = []
    for name in _METRIC_NAME.findall(expr):
        if base_metric(name, metrics) is None:
            problems.append(f"unknown metric {name}")
    for name, body in _SELECTOR.findall(expr):
        metric = base_metric(name, metrics)
        if metric is None:
            continue
        allowed = metric.labels | ({"le"} if name.endswith("_bucket") else set())
        for label in _MATCHER_LABEL.findall(body):
            if label not in allowed and label not in ("instance", "job"):
                problems.append(f"{name} has no label {label}")
    return problems


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (.ci/deploy-checks.sh installs it)")
    return path
