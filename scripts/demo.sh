#!/usr/bin/env bash
# Set up a virtualenv with the lab extra and run the demo: the daemon against the
# emulated world (moto on 127.0.0.1 + simulated VyOS routers), live, until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VPNWATCH_VENV:-$PWD/.venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import vpnwatch, moto" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -e ".[lab]"
fi
exec "$venv/bin/vpnwatch" demo "$@"
