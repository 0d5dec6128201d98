"""EC2 console output of a simulated VyOS instance, as a stock VyOS AMI prints it.

No cloud-init SSH host key block: VyOS's cloud-init runs no `ssh`/`keys_to_console` module
(vyos-cloud-init `config/cloud.cfg.d/10_vyos.cfg`: `cloud_final_modules: []`); sshd's host
keys are made by vyos-1x `service_ssh.py` during the config load, silently. What a
post-config boot script prints goes to the console (vyos-1x `vyos-router.service`:
`StandardOutput=journal+console`), between the config load and the login prompt.
"""

from __future__ import annotations

from datetime import UTC, datetime

_KERNEL = {
    "1.1": "3.13.11-1-amd64-vyos",
    "1.3": "5.4.268-amd64-vyos",
    "1.4": "6.6.56-amd64-vyos",
    "1.5": "6.6.89-vyos",
}
# VyOS builds cloud-init from its own fork (vyos/vyos-cloud-init); 1.5: assumed as 1.4
# (not checked against a 1.5 image; nothing reads the version).
_CLOUD_INIT = {"1.1": "0.7.9", "1.3": "20.2", "1.4": "22.1.4", "1.5": "22.1.4"}


def host_label(private_ip: str) -> str:
    return "ip-" + private_ip.replace(".", "-")


def boot_lines(version: str, private_ip: str, booted_at: float) -> list[str]:
    """Kernel, systemd and cloud-init lines up to the VyOS config load."""
    stamp = datetime.fromtimestamp(booted_at, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    ci = _CLOUD_INIT.get(version, "22.1.4")
    return [
        f"[    0.000000] Linux version {_KERNEL.get(version, _KERNEL['1.4'])} "
        "(autobuild@vyos.net) (gcc version 12.2.0 (Debian 12.2.0-14)) #1 SMP PREEMPT_DYNAMIC",
        "[    0.000000] Command line: BOOT_IMAGE=/boot/vyos/vmlinuz boot=live rootdelay=5 "
        "noautologin net.ifnames=0 biosdevname=0 vyos-union=/boot/vyos console=ttyS0,115200",
        "[    2.113870] systemd[1]: Detected virtualization amazon.",
        f"Cloud-init v. {ci} running 'init-local' at {stamp}. Up 6.12 seconds.",
        f"Cloud-init v. {ci} running 'init' at {stamp}. Up 9.81 seconds.",
        "ci-info: " + "+" * 36 + "Net device info" + "+" * 36,
        f"ci-info: |  eth0  | True |   {private_ip}   | 255.255.255.0 | global | .     |",
        f"Cloud-init v. {ci} running 'modules:config' at {stamp}. Up 13.02 seconds.",
        "Starting VyOS router: migrate system configure.",
    ]


def ready_lines(host: str) -> list[str]:
    """After the config load and the post-config boot scripts: the login prompt."""
    return ["", f"Welcome to VyOS - {host} ttyS0", "", f"{host} login: "]
