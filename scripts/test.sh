#!/usr/bin/env bash
# Set up everything and run the whole test suite: lint, types, layering, tests.
# Usage: scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=${VPNWATCH_VENV:-$root/.venv}

# Debian packages: the real-daemon tier (FRR, strongSwan, OpenSSH) here; promtool,
# systemd-analyze, yamllint and shellcheck in .ci/deploy-checks.sh. Installed when we are
# root; otherwise the tests that need them are skipped and say what is missing.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  bash .ci/integration-setup.sh
else
  echo "note: not root: Debian packages not installed (see .ci/integration-setup.sh)" >&2
fi

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -e ".[dev]"

echo "== ruff"
"$venv/bin/ruff" check src tests benchmarks
"$venv/bin/ruff" format --check src tests benchmarks
echo "== mypy (strict)"
"$venv/bin/mypy"
echo "== import-linter"
"$venv/bin/lint-imports"
if [ -f .ci/deploy-checks.sh ]; then
  echo "== deploy checks"
  bash .ci/deploy-checks.sh "$venv"
fi
echo "== pytest"
"$venv/bin/pytest" -q -ra "$@"
