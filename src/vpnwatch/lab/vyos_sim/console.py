"""EC2 console output of a simulated router: kernel and cloud-init lines, host key blocks."""

from __future__ import annotations

from datetime import UTC, datetime

from vpnwatch.lab.vyos_sim.core import RouterCore

_KERNEL = {
    "1.1": "3.13.11-1-amd64-vyos",
    "1.3": "5.4.268-amd64-vyos",
    "1.4": "6.6.56-amd64-vyos",
    "1.5": "6.6.89-vyos",
}


def console_text(core: RouterCore, host_key: str, fingerprint: str) -> str:
    """What GetConsoleOutput returns once cloud-init has finished on this instance."""
    booted = datetime.fromtimestamp(core.booted_at, UTC)
    stamp = booted.strftime("%a, %d %b %Y %H:%M:%S +0000")
    host = "ip-" + core.private_ip.replace(".", "-")
    key_type, key_blob = host_key.split()[:2]
    label = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA"}.get(key_type, "ECDSA")
    return "\n".join(
        [
            f"[    0.000000] Linux version {_KERNEL[core.version]} (autobuild@vyos.net) "
            "(gcc version 12.2.0 (Debian 12.2.0-14)) #1 SMP PREEMPT_DYNAMIC",
            "[    0.000000] Command line: BOOT_IMAGE=/boot/vyos/vmlinuz boot=live rootdelay=5 "
            "noautologin net.ifnames=0 biosdevname=0 vyos-union=/boot/vyos console=ttyS0",
            "[    2.113870] systemd[1]: Detected virtualization xen.",
            f"Cloud-init v. 22.4.2 running 'init' at {stamp}. Up 9.81 seconds.",
            "ci-info: " + "+" * 36 + "Net device info" + "+" * 36,
            f"ci-info: |  eth0  | True |   {core.private_ip}   | 255.255.255.0 | global | .     |",
            f"Cloud-init v. 22.4.2 running 'modules:config' at {stamp}. Up 13.02 seconds.",
            f"Cloud-init v. 22.4.2 running 'modules:final' at {stamp}. Up 21.66 seconds.",
            "ci-info: no authorized SSH keys fingerprints found for user vyos.",
            "ec2: ",
            "ec2: #############################################################",
            "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----",
            f"ec2: 256 {fingerprint} root@{host} ({label})",
            "ec2: -----END SSH HOST KEY FINGERPRINTS-----",
            "ec2: #############################################################",
            "-----BEGIN SSH HOST KEY KEYS-----",
            f"{key_type} {key_blob} root@{host}",
            "-----END SSH HOST KEY KEYS-----",
            f"Cloud-init v. 22.4.2 finished at {stamp}. Datasource DataSourceEc2Local.  "
            "Up 22.05 seconds",
            "",
            f"Welcome to VyOS - {host} ttyS0",
            "",
            f"{host} login: ",
        ]
    )
