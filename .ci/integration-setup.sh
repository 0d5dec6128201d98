#!/usr/bin/env bash
# Install the Debian 12 packages of the real-daemon test tier (tests/integration): FRR,
# strongSwan (charon + swanctl + kernel-libipsec), OpenSSH, iproute2. Run as root.
#
# Idempotent: nothing is downloaded when everything is installed already.
# Package postinst scripts must not leave daemons running in the root namespace (the tests
# start their own, inside network namespaces): a policy-rc.d that forbids service starts is
# put in place for the install (an existing one is set aside and restored afterwards), and
# any frr/charon/sshd process that appears during the install is stopped by PID.
set -euo pipefail

packages=(
    frr
    strongswan-charon
    strongswan-swanctl
    strongswan-starter
    libcharon-extra-plugins
    openssh-server
    openssh-client
    iproute2
    python3
)
daemons=(zebra bgpd staticd watchfrr charon starter sshd)
policy=/usr/sbin/policy-rc.d

log() { printf 'integration-setup: %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
command -v apt-get >/dev/null || { log "apt-get not found (Debian 12 expected)"; exit 1; }

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    log "all packages present"
    exit 0
fi

root_netns=$(readlink /proc/self/ns/net)
daemon_pids() { # root-namespace PIDs of daemons that package scripts could start
    local name pid
    for name in "${daemons[@]}"; do
        for pid in $(pgrep -x "$name" || true); do
            if [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$root_netns" ]; then
                echo "$pid"
            fi
        done
    done | sort
}

before=$(daemon_pids)
saved=""
if [ -e "$policy" ] || [ -L "$policy" ]; then
    saved=$(mktemp "${policy}.vpnwatch-saved.XXXXXX")
    mv -f "$policy" "$saved"
fi
restore_policy() {
    rm -f "$policy"
    if [ -n "$saved" ]; then mv -f "$saved" "$policy"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# installed by vpnwatch .ci/integration-setup.sh for the install only\nexit 101\n' >"$policy"
chmod 755 "$policy"

log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

# Belt and braces: stop whatever daemon started during the install anyway (by PID).
after=$(daemon_pids)
new=$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | grep -E '^[0-9]+$' || true)
for pid in $new; do
    log "stopping $(cat "/proc/$pid/comm" 2>/dev/null || echo '?') (pid $pid) started by the install"
    kill -TERM "$pid" 2>/dev/null || true
done
log "done"
