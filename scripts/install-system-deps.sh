#!/usr/bin/env bash
# Debian packages the tests need (run as root). Idempotent; starts no daemons.
set -euo pipefail
pkgs=(prometheus yamllint shellcheck systemd iproute2 openssh-server openssh-client frr
      strongswan-charon strongswan-swanctl strongswan-starter libcharon-extra-plugins)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # Keep package scripts from starting services in the root namespace.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
# Packages may have started daemons anyway (no policy-rc.d honoured): stop them.
for d in prometheus prometheus-node-exporter frr strongswan-starter ssh; do
  if command -v service >/dev/null && service "$d" status >/dev/null 2>&1; then
    service "$d" stop >/dev/null 2>&1 || true
  fi
done
exit 0
