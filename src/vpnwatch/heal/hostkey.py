"""Trusting a relaunched router's SSH host key without trusting it on first use.

A stock VyOS AMI prints no host keys on the console: its cloud-init runs no `ssh` or
`keys_to_console` module (vyos-cloud-init `config/cloud.cfg.d/10_vyos.cfg`), and sshd's
keys are made silently by vyos-1x `service_ssh.py` during the config load. So vpnwatch adds a
post-config boot script to the launch's user data (`heal.userdata`): VyOS runs
`/config/scripts/vyatta-postconfig-bootup.script` after the config load (vyos-1x
`src/init/vyos-router`, `run_postconfig_scripts`), when the host keys exist, and the script
prints their fingerprints on the serial console between markers. vpnwatch reads them with
GetConsoleOutput (Latest on Nitro types, the buffered post otherwise), parse them off the
loop (`parsers.parse_printed_fingerprints`) and accept the key the router presents only if
its fingerprint is the one printed for its type.

Why this is trustworthy: the console is written by the instance itself and readable only
through the EC2 API with the daemon's credentials; nothing on the network path can forge
it, and it carries no secret (fingerprints of public keys).
"""

from __future__ import annotations

from vpnwatch.model import ConsoleHostKeys
from vpnwatch.parsers import host_key_matches
from vpnwatch.parsers.console import VPNWATCH_BEGIN_FP as BEGIN
from vpnwatch.parsers.console import VPNWATCH_END_FP as END

BOOT_SCRIPT_PATH = "/opt/vyatta/etc/config/scripts/vyatta-postconfig-bootup.script"
# the same file through VyOS's /config symlink
BOOT_SCRIPT_PATHS = (BOOT_SCRIPT_PATH, "/config/scripts/vyatta-postconfig-bootup.script")

# ssh-keygen before OpenSSH 6.8 (VyOS 1.1) has no -E and prints MD5.
BOOT_SCRIPT = f"""#!/bin/sh
# vpnwatch: print this instance's SSH host key fingerprints on the serial console, so that
# vpnwatch can verify the new router's host key through GetConsoleOutput (never TOFU).
exec >/dev/console 2>&1
echo "{BEGIN}"
for key in /etc/ssh/ssh_host_*_key.pub; do
  [ -r "$key" ] || continue
  ssh-keygen -l -E sha256 -f "$key" 2>/dev/null || ssh-keygen -l -f "$key"
done
echo "{END}"
"""


def key_is_printed(public_key: str, printed: ConsoleHostKeys) -> bool:
    """Is the key the router presents ("alg base64") the one whose fingerprint its boot
    script printed for that key type (`parsers.parse_printed_fingerprints`)?"""
    parts = public_key.split()
    return len(parts) >= 2 and host_key_matches(printed, parts[0], parts[1])
