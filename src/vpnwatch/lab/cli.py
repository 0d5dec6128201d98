"""`vpnwatch lab serve|state|aws-fault|tunnel|fault|maintenance`: run the emulated world and
poke at it.

`serve` runs the world in this process; the other commands find it through `--config` (the
config the world wrote) or its runtime record, and talk to its control API over loopback.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from vpnwatch.lab.realism import BEHAVIOURS
from vpnwatch.lab.runtime import ControlClient, endpoint_from_config, the_running_world
from vpnwatch.lab.safety import LabError

# Spelled out, not imported: these commands must not load asyncssh, moto or boto3.
FAULT_KINDS = (
    "crash",
    "hang",
    "bgp-down",
    "ipsec-down",
    "bgp-stuck",
    "ipsec-stuck",
    "garbage",
    "slow",
    "deep-config",
    "secret-output",
)
ROUTER_VERSIONS = ("1.1", "1.3", "1.4", "1.5", "mixed")

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="the config the world wrote (its aws.endpoint_url is used); "
        "default: the one running world's runtime record",
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpnwatch lab",
        description="The emulated world: moto-based AWS on loopback with the article's topology.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="start the world and run until SIGINT/SIGTERM")
    p.add_argument(
        "--write-config",
        type=Path,
        metavar="PATH",
        help="where to write the vpnwatch config (default: STATE_DIR/vpnwatch.yaml)",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="the world's files (default: a temporary directory removed on exit)",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default %(default)s)"
    )
    p.add_argument("--port", type=int, default=0, help="port to bind (default: any free port)")
    p.add_argument(
        "--metrics-listen",
        default="127.0.0.1:9810",
        metavar="HOST:PORT",
        help="metrics.listen written into the config (default %(default)s)",
    )
    p.add_argument(
        "--health-interval",
        type=float,
        default=2.0,
        metavar="S",
        help="health.interval written into the config (default %(default)s)",
    )
    p.add_argument(
        "--detection-delay",
        type=float,
        default=3.0,
        metavar="S",
        help="how long AWS takes to notice a dead tunnel (default %(default)s)",
    )
    p.add_argument("--lock", choices=["none", "dynamodb"], default="none",
                   help="dynamodb: create the lock table and write a lock section, for an "
                   "active/standby pair (default %(default)s)")  # fmt: skip
    p.add_argument("--lease-seconds", type=float, default=15.0, metavar="S",
                   help="lock.lease_seconds for --lock dynamodb (default %(default)s)")  # fmt: skip
    _add_router_options(p)

    p = sub.add_parser("state", help="print the world's truth (instances, tunnels, faults)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_config_option(p)

    p = sub.add_parser("aws-fault", help="make an AWS API action fail or slow down")
    p.add_argument("action", metavar="ACTION", help="API action, e.g. DescribeVpnConnections")
    p.add_argument("--code", help="error code, e.g. RequestLimitExceeded (omit for delay only)")
    p.add_argument("--status", type=int, help="HTTP status (default: AWS's for the code)")
    p.add_argument("--count", type=int, default=1, help="how many calls (-1 = until cleared)")
    p.add_argument("--delay", type=float, default=0.0, metavar="S", help="added latency")
    p.add_argument(
        "--clear",
        action="store_true",
        help="remove the rules for ACTION instead (ACTION 'all' removes every rule)",
    )
    _add_config_option(p)

    p = sub.add_parser("tunnel", help="force a tunnel UP or DOWN (auto: back to the routers)")
    p.add_argument("vpn_id", metavar="VPN_ID")
    p.add_argument("outside_ip", metavar="OUTSIDE_IP")
    p.add_argument("status", choices=["up", "down", "auto"])
    _add_config_option(p)

    p = sub.add_parser(
        "maintenance",
        help="AWS's tunnel endpoint maintenance: make it pending, or apply it now",
        description="pending: AWS has maintenance for the tunnel (GetVpnTunnelReplacementStatus "
        "shows it with lifecycle control on) and applies it itself after --auto-apply-in. "
        "apply: AWS replaces the tunnel's endpoint now: the tunnel is down for --down-for "
        "seconds, then AWS initiates IKE only for IKEv2 with startup action start; with --ikev1 "
        "(or startup action add, AWS's default) it stays down until the router initiates.",
    )
    p.add_argument("vpn_id", metavar="VPN_ID")
    p.add_argument("outside_ip", metavar="OUTSIDE_IP")
    p.add_argument("what", choices=["pending", "apply", "show"])
    p.add_argument("--ikev1", action="store_true", help="the tunnel negotiates IKEv1 (apply)")
    p.add_argument("--auto-apply-in", type=float, metavar="S",
                   help="when AWS applies it itself (pending; default 14 days)")  # fmt: skip
    p.add_argument("--down-for", type=float, metavar="S",
                   help="how long the new endpoint takes (apply; default 5)")  # fmt: skip
    _add_config_option(p)

    p = sub.add_parser("fault", help="set (or --clear) a fault on a simulated router")
    p.add_argument("router", metavar="ROUTER", help="router name, e.g. spoke1-r1")
    p.add_argument("kind", metavar="KIND", choices=[*FAULT_KINDS, "all"],
                   help=f"one of {', '.join(FAULT_KINDS)} ('all' with --clear)")  # fmt: skip
    p.add_argument("--clear", action="store_true", help="clear the fault instead")
    p.add_argument("--delay", type=float, metavar="S", help="seconds per command (slow only)")
    _add_config_option(p)
    return parser


def _add_router_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-routers", action="store_true", help="AWS only, no simulated routers")
    p.add_argument("--router-version", default="1.4", choices=ROUTER_VERSIONS,
                   help="VyOS version of the routers (default %(default)s)")  # fmt: skip
    for name, default, what in (
        ("release-delay", 3.0, "a terminated instance's private IP stays in use"),
        ("boot-delay", 1.0, "a launched or rebooted router takes to boot"),
        ("console-delay", 1.0, "a booted router's console output takes to appear"),
    ):
        p.add_argument(f"--{name}", type=float, default=default, metavar="S",
                       help=f"how long {what} (default %(default)s)")  # fmt: skip
    p.add_argument("--pending-delay", type=float, default=2.0, metavar="S",
                   help="how long a launch stays pending (default %(default)s)")  # fmt: skip
    p.add_argument("--unfaithful", action="append", default=[], metavar="BEHAVIOUR",
                   choices=sorted(BEHAVIOURS),
                   help="turn one real EC2/VyOS behaviour off (repeatable): "
                   + ", ".join(sorted(BEHAVIOURS)))  # fmt: skip
    p.add_argument("--iam-policy", type=Path, metavar="FILE",
                   help="limit the daemon's AWS credentials to this IAM policy; they are "
                   "written to STATE_DIR/daemon-aws-credentials")  # fmt: skip
    p.add_argument("--heal-live", action="store_true",
                   help="write heal.dry_run: false (default: dry run)")  # fmt: skip
    p.add_argument("--heal-strategy", choices=["same-ip", "eni"], default="same-ip",
                   help="heal.strategy written into the config (default %(default)s)")  # fmt: skip


def _client(config: Path | None) -> ControlClient:
    url = endpoint_from_config(config) if config else the_running_world().endpoint_url
    return ControlClient(url)


def _print_table(state: dict[str, Any]) -> None:
    rows = [("INSTANCE", "ROUTER", "STATE", "PRIVATE IP", "PUBLIC IP", "SRC/DST CHECK")]
    for i in state.get("instances", []):
        rows.append(
            (
                i["instance_id"],
                i.get("router") or "-",
                i["state"],
                i["private_ip"] or "-",
                i.get("public_ip") or "-",
                str(i["source_dest_check"]).lower(),
            )
        )
    rows.append(("", "", "", "", "", ""))
    rows.append(("VPN CONNECTION", "CGW IP", "STATE", "TUNNEL", "STATUS", "OVERRIDE"))
    for c in state.get("vpn_connections", []):
        for t in c["tunnels"]:
            rows.append(
                (
                    c["id"],
                    c.get("customer_gateway_ip") or "-",
                    c["state"],
                    t["outside_ip"],
                    str(t.get("status")),
                    str(t.get("override", "-")).lower(),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    _print_routers(state.get("routers", []))
    for f in state.get("faults", []):
        print(
            f"fault {f['id']}: {f['action']} code={f['code']} status={f['status']} "
            f"count={f['count']} delay={f['delay']} hits={f['hits']}"
        )


def _print_routers(routers: list[dict[str, Any]]) -> None:
    if not routers or "state" not in routers[0]:
        return
    print()
    rows = [("ROUTER", "INSTANCE", "STATE", "SSH", "ALIVE", "BGP", "IPSEC", "FAULTS")]
    for r in routers:
        bgp = list(r.get("bgp", {}).values())
        ipsec = list(r.get("ipsec", {}).values())
        rows.append(
            (
                r["name"], r["instance_id"], r["state"], r.get("ssh") or "-",
                str(r.get("alive")).lower(),
                f"{bgp.count('Established')}/{len(bgp)} up",
                f"{ipsec.count('up')}/{len(ipsec)} up",
                ",".join(r.get("faults", [])) or "-",
            )
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _serve(args: argparse.Namespace) -> int:
    from vpnwatch.lab.realism import Realism
    from vpnwatch.lab.world import LabWorld  # moto and boto3 load only here

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    own_dir = args.state_dir is None
    state_dir = Path(tempfile.mkdtemp(prefix="vpnwatch-lab-")) if own_dir else args.state_dir
    world = LabWorld(
        state_dir,
        config_path=args.write_config,
        host=args.host,
        port=args.port,
        metrics_listen=args.metrics_listen,
        health_interval=args.health_interval,
        detection_delay=args.detection_delay,
        publish_runtime=True,
        routers=not args.no_routers,
        router_version=args.router_version,
        release_delay=args.release_delay,
        boot_delay=args.boot_delay,
        console_delay=args.console_delay,
        heal_dry_run=not args.heal_live,
        heal_strategy=args.heal_strategy,
        lock=args.lock,
        lease_seconds=args.lease_seconds,
        realism=Realism(off=frozenset(args.unfaithful), pending_delay=args.pending_delay),
        iam_policy=args.iam_policy,
    )
    try:
        world.start()
        line = world.ready_line()
        if world.iam is not None:
            written = world.iam.principal.credentials_file(state_dir / "daemon-aws-credentials")
            line += f" daemon_credentials={written}"
        print(line, flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        world.stop()
        if own_dir:
            shutil.rmtree(state_dir, ignore_errors=True)
    print("vpnwatch lab: stopped", flush=True)
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    client = _client(args.config)
    if args.command == "state":
        state = client.state()
        if args.json:
            print(json.dumps(state, indent=2, default=str))
        else:
            _print_table(state)
    elif args.command == "aws-fault":
        if args.clear:
            cleared = client.clear_faults(None if args.action in ("all", "*") else args.action)
            print(f"cleared {cleared} fault rule(s)")
        else:
            rule = client.add_fault(args.action, args.code, args.status, args.count, args.delay)
            print(json.dumps(rule))
    elif args.command == "tunnel":
        status = None if args.status == "auto" else args.status.upper()
        print(json.dumps(client.set_tunnel(args.vpn_id, args.outside_ip, status)))
    elif args.command == "maintenance":
        found = client.maintenance(
            args.vpn_id,
            args.outside_ip,
            args.what,
            ikev1=args.ikev1,
            auto_apply_in=args.auto_apply_in,
            down_for=args.down_for,
        )
        print(json.dumps(found))
    elif args.command == "fault":
        view = client.router_fault(args.router, args.kind, clear=args.clear, delay=args.delay)
        print(json.dumps(view))
    return EXIT_OK


def main(argv: list[str]) -> int:
    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="vpnwatch lab: %(levelname)s %(message)s")
    try:
        return _run(args)
    except LabError as exc:
        print(f"vpnwatch lab: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
