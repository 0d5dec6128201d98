"""A real two-router VPN in network namespaces: FRR + strongSwan + OpenSSH (root only).

    root ns  <mgmt_if> M.1/30 ──── veth ──── mgmt M.2/30  r1
    r1 ("VyOS", AS 65000)  eth0 198.18.0.1/30 ═══ veth ═══ eth0 198.18.0.2/30  r2 ("AWS", AS 64512)
    r1 ipsec0 169.254.10.1/30 ~~ IKEv1 AES128/SHA1/modp1024 PSK, ESP-in-UDP (libipsec) ~~ .2 r2
    eBGP over the tunnel's inside /30 (keepalive 3 / hold 9); r2 advertises 198.18.102.0/24.
    sshd in r1 (ForceCommand vyos_shell.sh) listens on M.2:22.

Every daemon is started in the foreground as our own child (Popen), so stopping one is a
signal plus `wait()` and nothing lingers as an unreaped zombie. Namespace, interface and
directory names carry a per-run tag, and the only root-namespace change is one veth with a
/30 picked to be unused, so runs never collide. `down()` is safe after a partial `up()`.
Lessons (kernel without ESP → kernel-libipsec + encap; table-220 fwmark; private /run for
charon and sshd; frrvty group; zombies) come from the reference lab's NOTES.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

FRR_DIR = Path("/usr/lib/frr")
CHARON = Path("/usr/lib/ipsec/charon")
LIBIPSEC = Path("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so")
SSHD = Path("/usr/sbin/sshd")
HERE = Path(__file__).resolve().parent
SSH_USER = "vyos"
PSK = "itest-psk-not-a-real-secret"
UNDERLAY = {"r1": "198.18.0.1", "r2": "198.18.0.2"}
INSIDE = {"r1": "169.254.10.1", "r2": "169.254.10.2"}
LOOPBACK = {"r1": "198.18.101.1/24", "r2": "198.18.102.1/24"}
NETWORK = {"r1": "198.18.101.0/24", "r2": "198.18.102.0/24"}
ASN = {"r1": 65000, "r2": 64512}
KEEPALIVE, HOLD = 3, 9
# kernel-libipsec (userspace ESP over TUN) before kernel-netlink: the kernel may lack ESP
PLUGINS = " ".join(
    ("random nonce aes sha1 sha2 hmac kdf gmp pem pkcs1 pubkey x509",
     "kernel-libipsec kernel-netlink socket-default vici updown")
)  # fmt: skip


def missing_requirements() -> list[str]:
    """What this machine lacks for the lab (empty: good to go)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    if shutil.which("ip") is None:
        missing.append("iproute2 (ip netns)")
    if not Path("/dev/net/tun").exists():
        missing.append("/dev/net/tun")
    for path, package in (
        (FRR_DIR / "zebra", "frr"),
        (FRR_DIR / "bgpd", "frr"),
        (CHARON, "strongswan-charon"),
        (LIBIPSEC, "libcharon-extra-plugins"),
        (SSHD, "openssh-server"),
        (Path("/usr/bin/python3"), "python3"),
    ):
        if not path.exists():
            missing.append(f"{path} ({package})")
    for tool, package in (
        ("vtysh", "frr"),
        ("swanctl", "strongswan-swanctl"),
        ("ssh-keygen", "openssh-client"),
    ):
        if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            missing.append(f"{tool} ({package})")
    try:
        grp.getgrnam("frrvty")
    except KeyError:
        missing.append("group frrvty (frr)")
    return missing


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
        )
    return result


def wait_until(what: str, condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"lab: timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


def alive(pid: int) -> bool:
    """Running and not a zombie (PID 1 may reap orphans only every few seconds)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return not any(ln.startswith("State:") and "Z" in ln.split()[1:2] for ln in status.splitlines())


def _free_mgmt_subnet(tag: int) -> tuple[str, str]:
    """A 198.19.x.y/30 not configured in the root namespace: (our address, r1's address)."""
    used = run("ip", "-4", "-o", "addr", "show").stdout
    for i in range(16384):
        n = (tag + i) % 16384 * 4
        host, r1 = f"198.19.{n // 256}.{n % 256 + 1}", f"198.19.{n // 256}.{n % 256 + 2}"
        if f" {host}/" not in used and f" {r1}/" not in used:
            return host, r1
    raise RuntimeError("lab: no free /30 in 198.19.0.0/16")


class NetnsLab:
    def __init__(self) -> None:
        tag = os.getpid()
        self.ns = {"r1": f"vw{tag}r1", "r2": f"vw{tag}r2"}
        self.mgmt_if = f"vw{tag}m"
        self.mgmt_host, self.ssh_host = _free_mgmt_subnet(tag)
        self.dir = Path(tempfile.mkdtemp(prefix=f"vpnwatch-itest-{tag}-"))
        self.dir.chmod(0o755)  # frr and the ssh user must traverse it
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.created_user = False
        self.added_to_frrvty = False
        self.client_key = self.dir / "id_client"
        self.known_hosts = self.dir / "known_hosts"
        self.host_public_key = ""

    # ---------------------------------------------------------------- paths and helpers

    def rdir(self, r: str) -> Path:
        return self.dir / r

    def run_dir(self, r: str) -> Path:
        return self.dir / r / "run"

    def vtysh(self, r: str, command: str) -> str:
        sock = str(self.run_dir(r) / "frr")
        return run("vtysh", "--vty_socket", sock, "-c", command, check=False).stdout

    def swanctl(self, r: str, *args: str) -> subprocess.CompletedProcess[str]:
        uri = f"unix://{self.run_dir(r) / 'charon.vici'}"
        return run("swanctl", *args, "--uri", uri, check=False)

    def _spawn(self, name: str, r: str, argv: list[str], private_run: bool = False) -> None:
        """Start `argv` in router r's namespace as our child (optionally with its own /run)."""
        cmd = ["ip", "netns", "exec", self.ns[r]]
        cmd += ["env", f"STRONGSWAN_CONF={self.rdir(r) / 'ipsec' / 'strongswan.conf'}"]
        if private_run:  # `ip netns exec` gives a private mount namespace: nothing leaks
            cmd += ["sh", "-c", 'mount --bind "$0" /run && exec "$@"', str(self.run_dir(r))]
        log = (self.rdir(r) / "log" / f"{name}.log").open("ab")
        with log:
            self.procs[f"{r}-{name}"] = subprocess.Popen(
                cmd + argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )  # fmt: skip

    def stop(self, r: str, name: str, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        proc = self.procs.get(f"{r}-{name}")
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    # ---------------------------------------------------------------- up

    def up(self) -> None:
        self._network()
        for r in ("r1", "r2"):
            for sub in ("run/frr", "frr", "ipsec", "log"):
                (self.rdir(r) / sub).mkdir(parents=True, exist_ok=True)
            (self.rdir(r)).chmod(0o755)
            self.run_dir(r).chmod(0o755)
            self._write_frr(r)
            self._write_ipsec(r)
        self._setup_ssh()
        for r in ("r1", "r2"):
            self._start_frr(r)
        for r in ("r2", "r1"):  # responder first, then the initiator
            self._start_charon(r)
        self._start_sshd()
        wait_until(
            "CHILD_SA INSTALLED", lambda: "INSTALLED" in self.swanctl("r1", "--list-sas").stdout, 30
        )
        wait_until("BGP Established with 1 prefix", self.bgp_up, 30)

    def bgp_up(self) -> bool:
        out = self.vtysh("r1", "show ip bgp summary json")
        return '"state":"Established"' in out.replace(" ", "") and '"pfxRcd":1' in out.replace(
            " ", ""
        )

    def _network(self) -> None:
        for ns in self.ns.values():
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        n1, n2 = self.ns["r1"], self.ns["r2"]
        run(
            "ip",
            "link",
            "add",
            "eth0",
            "netns",
            n1,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            n2,
        )
        run("ip", "link", "add", self.mgmt_if, "type", "veth", "peer", "name", "mgmt", "netns", n1)
        run("ip", "addr", "add", f"{self.mgmt_host}/30", "dev", self.mgmt_if)
        run("ip", "link", "set", self.mgmt_if, "up")
        run("ip", "-n", n1, "addr", "add", f"{self.ssh_host}/30", "dev", "mgmt")
        run("ip", "-n", n1, "link", "set", "mgmt", "up")
        for r, ns in self.ns.items():
            run("ip", "-n", ns, "addr", "add", f"{UNDERLAY[r]}/30", "dev", "eth0")
            run("ip", "-n", ns, "addr", "add", LOOPBACK[r], "dev", "lo")
            run("ip", "-n", ns, "link", "set", "eth0", "up")

    def _write_frr(self, r: str) -> None:
        peer = "r2" if r == "r1" else "r1"
        d = self.rdir(r) / "frr"
        (d / "zebra.conf").write_text(f"hostname {r}\n!\n")
        (d / "bgpd.conf").write_text(
            "frr defaults traditional\n"
            f"hostname {r}\n!\n"
            f"router bgp {ASN[r]}\n"
            f" bgp router-id {UNDERLAY[r]}\n"
            " no bgp ebgp-requires-policy\n"
            f" neighbor {INSIDE[peer]} remote-as {ASN[peer]}\n"
            f" neighbor {INSIDE[peer]} timers {KEEPALIVE} {HOLD}\n"
            f" neighbor {INSIDE[peer]} timers connect 1\n"
            " address-family ipv4 unicast\n"
            f"  network {NETWORK[r]}\n"
            " exit-address-family\n!\n"
        )
        run("chown", "-R", "frr:frr", str(d), str(self.run_dir(r) / "frr"))

    def _write_ipsec(self, r: str) -> None:
        peer = "r2" if r == "r1" else "r1"
        d = self.rdir(r) / "ipsec"
        ike = f"peer_{UNDERLAY[peer].replace('.', '-')}"  # no dots in swanctl section names
        initiator = r == "r1"
        (d / "strongswan.conf").write_text(
            textwrap.dedent(f"""\
            charon {{
              load_modular = no
              load = {PLUGINS}
              install_routes = no
              install_virtual_ip = no
              # vici socket root:frrvty, so the ssh user's swanctl can read the SAs
              group = frrvty
              plugins {{
                kernel-netlink {{
                  # libipsec puts 0/0 into table 220 regardless; make its rule match nothing
                  fwmark = 0x4c4142
                }}
              }}
              filelog {{
                lab {{
                  path = {self.rdir(r) / "log" / "charon-file.log"}
                  default = 1
                  flush_line = yes
                }}
              }}
            }}
            """)
        )
        (d / "updown.sh").write_text(
            "#!/bin/sh\n"
            '[ "$PLUTO_VERB" = up-client ] || exit 0\n'
            f"ip addr replace {INSIDE[r]}/30 dev ipsec0 && ip link set ipsec0 up\n"
        )
        (d / "updown.sh").chmod(0o755)
        (d / "swanctl.conf").write_text(
            textwrap.dedent(f"""\
            # AWS-like tunnel: IKEv1, AES128/SHA1/DH2, PSK, route-based 0/0 selectors
            connections {{
              {ike} {{
                version = 1
                local_addrs = {UNDERLAY[r]}
                remote_addrs = {UNDERLAY[peer]}
                proposals = aes128-sha1-modp1024
                # kernel-libipsec cannot receive raw ESP: force UDP encapsulation
                encap = yes
                dpd_delay = 10s
                dpd_timeout = 30s
                rekey_time = 28800s
                local {{
                  auth = psk
                  id = {UNDERLAY[r]}
                }}
                remote {{
                  auth = psk
                  id = {UNDERLAY[peer]}
                }}
                children {{
                  {ike}_vti {{
                    local_ts = 0.0.0.0/0
                    remote_ts = 0.0.0.0/0
                    esp_proposals = aes128-sha1-modp1024
                    rekey_time = 3600s
                    start_action = {"start" if initiator else "none"}
                    dpd_action = {"restart" if initiator else "clear"}
                    updown = {d / "updown.sh"}
                  }}
                }}
              }}
            }}
            secrets {{
              ike-lab {{
                id-1 = {UNDERLAY["r1"]}
                id-2 = {UNDERLAY["r2"]}
                secret = "{PSK}"
              }}
            }}
            """)
        )
        (d / "swanctl.conf").chmod(0o600)

    def _start_frr(self, r: str) -> None:
        run_frr = self.run_dir(r) / "frr"
        for daemon, ready in (("zebra", "zserv.api"), ("bgpd", "bgpd.vty")):
            self._spawn(daemon, r, [
                str(FRR_DIR / daemon), "-u", "frr", "-g", "frr", "-P", "0",
                "-f", str(self.rdir(r) / "frr" / f"{daemon}.conf"),
                "-i", str(run_frr / f"{daemon}.pid"), "-z", str(run_frr / "zserv.api"),
                "--vty_socket", str(run_frr),
                "--log", f"file:{self.rdir(r) / 'log' / f'{daemon}-file.log'}",
            ])  # fmt: skip
            wait_until(f"{r} {daemon}", (run_frr / ready).exists, 15)

    def _start_charon(self, r: str) -> None:
        self._spawn("charon", r, [str(CHARON)], private_run=True)
        wait_until(f"{r} charon", lambda: self.swanctl(r, "--stats").returncode == 0, 15)
        conf = str(self.rdir(r) / "ipsec" / "swanctl.conf")
        result = self.swanctl(r, "--load-all", "--file", conf)
        if result.returncode != 0:
            raise RuntimeError(f"lab: swanctl --load-all in {r}: {result.stderr.strip()}")

    # ---------------------------------------------------------------- ssh

    def _setup_ssh(self) -> None:
        ssh = self.rdir("r1") / "ssh"
        home, bin_dir = self.dir / "home", self.dir / "bin"
        for d in (ssh, home, bin_dir, bin_dir / "vtysh"):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)
        try:
            entry = pwd.getpwnam(SSH_USER)
        except KeyError:
            run(
                "useradd",
                "-M",
                "-d",
                str(home),
                "-s",
                "/bin/sh",
                "-p",
                "*",
                "-G",
                "frrvty",
                SSH_USER,
            )
            self.created_user = True
        else:
            if (
                SSH_USER not in grp.getgrnam("frrvty").gr_mem
                and entry.pw_gid != grp.getgrnam("frrvty").gr_gid
            ):
                run("usermod", "-a", "-G", "frrvty", SSH_USER)
                self.added_to_frrvty = True
        run(
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "lab-host",
            "-f",
            str(ssh / "host_ed25519"),
        )
        run(
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "lab-client",
            "-f",
            str(self.client_key),
        )
        self.host_public_key = " ".join((ssh / "host_ed25519.pub").read_text().split()[:2])
        self.known_hosts.write_text(f"{self.ssh_host} {self.host_public_key}\n")
        authorized = ssh / f"authorized_keys_{SSH_USER}"
        shutil.copyfile(f"{self.client_key}.pub", authorized)
        authorized.chmod(0o644)
        for script in ("vyos_shell.sh", "vyos_vpn_fmt.py"):
            shutil.copyfile(HERE / script, bin_dir / script)
            (bin_dir / script).chmod(0o755)
        (bin_dir / "vtysh" / "vtysh.conf").write_text("")
        (bin_dir / "vtysh" / "vtysh.conf").chmod(0o644)
        (bin_dir / "shell.env").write_text(
            f"VTYSH_CONF_DIR={bin_dir / 'vtysh'}\n"
            f"VTY_DIR={self.run_dir('r1') / 'frr'}\n"
            f"VICI_URI=unix://{self.run_dir('r1') / 'charon.vici'}\n"
            f"STRONGSWAN_CONF={self.rdir('r1') / 'ipsec' / 'strongswan.conf'}\n"
        )
        (bin_dir / "shell.env").chmod(0o644)
        (ssh / "sshd_config").write_text(
            "ListenAddress 0.0.0.0\nPort 22\n"
            f"HostKey {ssh / 'host_ed25519'}\n"
            "PidFile /run/sshd.pid\n"
            f"AuthorizedKeysFile {ssh}/authorized_keys_%u\n"
            "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nPermitRootLogin no\n"
            f"AllowUsers {SSH_USER}\n"
            "StrictModes no\n"  # the lab lives under /tmp
            f"ForceCommand {bin_dir / 'vyos_shell.sh'}\n"
            "X11Forwarding no\nAllowTcpForwarding no\nAllowAgentForwarding no\n"
            "PrintMotd no\nPrintLastLog no\n"
            f"Subsystem sftp internal-sftp\n"
        )

    def _start_sshd(self) -> None:
        (self.run_dir("r1") / "sshd").mkdir(mode=0o755, exist_ok=True)  # privsep dir /run/sshd
        config = self.rdir("r1") / "ssh" / "sshd_config"
        self._spawn("sshd", "r1", [str(SSHD), "-D", "-e", "-f", str(config)], private_run=True)

        def listening() -> bool:
            with contextlib.suppress(OSError), socket.create_connection((self.ssh_host, 22), 0.5):
                return True
            return False

        wait_until("sshd in r1", listening, 15)

    def log_tail(self, lines: int = 15) -> str:
        """The end of every daemon log, to explain a lab that did not come up."""
        parts = []
        for log in sorted(self.dir.glob("r*/log/*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.relative_to(self.dir)}\n" + "\n".join(tail))
        return "\n".join(parts)

    # ---------------------------------------------------------------- down

    def down(self) -> None:
        """Kill every daemon, delete namespaces, veth, user and directory (best effort, all)."""
        for key in (
            "r1-sshd",
            "r1-charon",
            "r2-charon",
            "r1-bgpd",
            "r2-bgpd",
            "r1-zebra",
            "r2-zebra",
        ):
            r, name = key.split("-")
            with contextlib.suppress(Exception):
                self.stop(r, name, signal.SIGTERM, timeout=5)
        for ns in self.ns.values():
            if run("ip", "netns", "pids", ns, check=False).returncode != 0:
                continue
            for _ in range(50):  # anything else in OUR namespaces (ssh sessions...), by PID
                pids = [int(p) for p in run("ip", "netns", "pids", ns, check=False).stdout.split()]
                live = [p for p in pids if alive(p)]
                if not live:
                    break
                for pid in live:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.1)
            run("ip", "netns", "del", ns, check=False)
        run("ip", "link", "del", self.mgmt_if, check=False)
        if self.created_user:
            run("userdel", SSH_USER, check=False)
        elif self.added_to_frrvty:
            run("gpasswd", "-d", SSH_USER, "frrvty", check=False)
        if os.environ.get("VPNWATCH_KEEP_LAB") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
