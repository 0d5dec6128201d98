"""Trusting a relaunched router's SSH host key without trusting it on first use.

A stock VyOS AMI prints no host keys on the console: its cloud-init runs no `ssh` or
`keys_to_console` module (vyos-cloud-init `config/cloud.cfg.d/10_vyos.cfg`), and sshd's
keys are made silently by vyos-1x `service_ssh.py` during the config load. So vpnwatch adds a
post-config boot script to the launch's user data (`heal.userdata`): VyOS runs
`/config/scripts/vyatta-postconfig-bootup.script` after the config load (vyos-1x
`src/init/vyos-router`, `run_postconfig_scripts`), when the host keys exist, and the script
prints their fingerprints on the serial console between markers. vpnwatch reads them with
GetConsoleOutput (Latest on Nitro types, the buffered post otherwise) and accepts the key
the router presents only if its fingerprint is among them.

Why this is trustworthy: the console is written by the instance itself and readable only
through the EC2 API with the daemon's credentials; nothing on the network path can forge
it, and it carries no secret (fingerprints of public keys).
"""

from __future__ import annotations

import base64
import hashlib
import re

BEGIN = "-----BEGIN VPNWATCH SSH HOST KEY FINGERPRINTS-----"
END = "-----END VPNWATCH SSH HOST KEY FINGERPRINTS-----"
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

_FINGERPRINT = re.compile(
    r"^\s*\d+\s+(?P<fp>SHA256:[A-Za-z0-9+/]+=*|MD5:[0-9a-f]{2}(?::[0-9a-f]{2}){15}"
    r"|[0-9a-f]{2}(?::[0-9a-f]{2}){15})\s.*\((?P<kind>[A-Z0-9-]+)\)\s*$"
)


def printed_fingerprints(console: str | None) -> frozenset[str] | None:
    """The fingerprints of the last complete marker block (None: not printed yet)."""
    if not console:
        return None
    found: frozenset[str] | None = None
    block: list[str] | None = None
    for raw in console.splitlines():
        line = raw.rstrip("\r")
        if BEGIN in line:
            block = []
        elif END in line and block is not None:
            found = frozenset(block)
            block = None
        elif block is not None:
            match = _FINGERPRINT.match(line.split(": ", 1)[-1] if "ec2:" in line else line)
            if match is not None:
                block.append(match.group("fp").removeprefix("MD5:"))
    return found


def fingerprints_of(public_key: str) -> frozenset[str]:
    """SHA256 and MD5 fingerprints of an OpenSSH public key line ("alg base64 ...")."""
    parts = public_key.split()
    if len(parts) < 2:
        raise ValueError("not an OpenSSH public key line")
    blob = base64.b64decode(parts[1], validate=True)
    sha = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    md5 = ":".join(digest[i : i + 2] for i in range(0, 32, 2))
    return frozenset({sha, md5})


def key_is_printed(public_key: str, printed: frozenset[str]) -> bool:
    return bool(fingerprints_of(public_key) & printed)
