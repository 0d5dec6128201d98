#!/usr/bin/env bash
# Checks for the deploy artifacts (deploy/, Dockerfile): installs the tools it needs, then
# lints and tests them. Idempotent. The structural tests live in tests/deploy/ and run with
# the rest of the pytest suite.
# Usage: bash .ci/deploy-checks.sh VENV        (e.g. .venv)
set -euo pipefail

venv=${1:?usage: deploy-checks.sh VENV}
venv=$(cd "$venv" && pwd)
cd "$(dirname "$0")/.."

# PyPI packages (pinned): Helm's engine without a helm binary, Kubernetes and Prometheus
# Operator schemas, an IAM policy linter, BuildKit's Dockerfile parser.
pypi_pkgs=(
  "helm-python-sdk==0.2.2"
  "kubernetes-validate==1.37.0"
  "cloudcoil-models-prometheus-operator==0.80.1.0"
  "parliament==1.6.4"
  "dockerfile==3.4.0"
)
# Debian packages: systemd-analyze, promtool, linters, libseccomp for Debian's python3.
deb_pkgs=(systemd prometheus yamllint shellcheck python3-seccomp)

install_debian_packages() {
  local missing=() p
  for p in "${deb_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "deploy-checks: missing Debian packages (need root to install): ${missing[*]}" >&2
    return 1
  fi
  # Keep package scripts from starting services (the prometheus package would).
  local created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$created_policy" = 1 ]; then
    rm -f /usr/sbin/policy-rc.d
  fi
}

step() { printf '== deploy: %s\n' "$*"; }

step "install tools"
install_debian_packages
"$venv/bin/pip" install --quiet "${pypi_pkgs[@]}"

step "yamllint"
yamllint --strict -c deploy/yamllint.yaml deploy

step "shellcheck"
shellcheck .ci/deploy-checks.sh

step "json"
for f in deploy/grafana/vpnwatch-dashboard.json deploy/iam/policy.json \
         deploy/helm/vpnwatch/values.schema.json; do
  "$venv/bin/python" -m json.tool "$f" >/dev/null
done

step "helm lint (Helm v4 SDK)"
"$venv/bin/python" - <<'PY'
import sys

import helm_python as helm
import yaml

chart = "deploy/helm/vpnwatch"
full = yaml.safe_load(open(f"{chart}/ci/full-values.yaml", encoding="utf-8"))
failed = False
for name, values in (("defaults", None), ("ci/full-values.yaml", full)):
    report = helm.lint(chart, values, strict=True, kube_version="v1.30.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    print(f"  {name}: {len(problems)} problem(s)")
    for problem in problems:
        print(f"    {problem}")
    failed = failed or bool(problems)
sys.exit(1 if failed else 0)
PY

step "promtool"
promtool check rules deploy/prometheus/vpnwatch-rules.yaml
(cd deploy/prometheus/tests && promtool test rules ./*.yaml)

step "systemd-analyze"
# verify wants ExecStart's binary to exist; /opt/vpnwatch/bin/vpnwatch does not on CI, so
# check a copy whose ExecStart points at a stub (every other line unchanged).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\nexit 0\n' > "$tmp/vpnwatch"
chmod +x "$tmp/vpnwatch"
sed "s#^ExecStart=/opt/vpnwatch/bin/vpnwatch #ExecStart=$tmp/vpnwatch #" \
  deploy/systemd/vpnwatch.service > "$tmp/vpnwatch.service"
grep -q "^ExecStart=$tmp/vpnwatch run " "$tmp/vpnwatch.service"
verify_out=$(systemd-analyze verify --man=no "$tmp/vpnwatch.service" 2>&1)
if [ -n "$verify_out" ]; then
  echo "$verify_out" >&2
  exit 1
fi
# --threshold is the exposure times 10: fail above 2.0.
systemd-analyze security --offline=true --no-pager --threshold=20 "$tmp/vpnwatch.service" \
  | grep "Overall exposure level"

step "ok"
