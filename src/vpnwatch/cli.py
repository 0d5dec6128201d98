"""Command line: the argument parser and dispatch; each command lives in `commands/`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from vpnwatch import __version__
from vpnwatch.vocabulary import ACTIONS

EXIT_OK = 0
EXIT_UNHEALTHY = 1
EXIT_CONFIG = 2


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpnwatch",
        description="Watch and heal AWS site-to-site VPNs that terminate on VyOS routers.",
    )
    parser.add_argument("--version", action="version", version=f"vpnwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the daemon (observe, export metrics, heal)")
    p.add_argument("--config", "-c", required=True, help="path to the YAML config")

    p = sub.add_parser("check", help="run one observation cycle and print what it saw")
    p.add_argument("--config", "-c", required=True, help="path to the YAML config")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("validate-config", help="validate a config file; exit 0 or 2")
    p.add_argument("file", help="path to the YAML config")

    p = sub.add_parser("parse", help="parse router output (stdin or FILE) and print JSON")
    p.add_argument(
        "kind", choices=["bgp-summary", "ike-sa", "ipsec-sa", "console-host-keys", "config"]
    )
    p.add_argument("file", nargs="?", help="file to parse (default: stdin)")

    p = sub.add_parser("heal", help="heal one router by hand through the same guards")
    p.add_argument("--config", "-c", required=True, help="path to the YAML config")
    p.add_argument("--router", help="router name as in the config")
    p.add_argument("--action", default="replace", choices=[str(a) for a in ACTIONS])
    p.add_argument("--dry-run", action="store_true", help="only log what would be done")
    p.add_argument(
        "--rehearse",
        action="store_true",
        help="run the replacement's preflight for real (DryRun calls, no change); exit 0/1",
    )
    p.add_argument("--json", action="store_true", help="with --rehearse: print JSON")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--reset-breaker", action="store_true", help="close the circuit breaker")

    for name, what in (("pause", "stop all actions"), ("resume", "resume actions")):
        p = sub.add_parser(name, help=f"{what} (observing goes on), through the daemon")
        p.add_argument("--config", "-c", required=True, help="path to the YAML config")

    p = sub.add_parser("requests", help="list operator requests and their answers")
    p.add_argument("--config", "-c", required=True, help="path to the YAML config")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("state", help="check the state files, or move an unreadable one aside")
    p.add_argument("action", choices=["check", "reset"])
    p.add_argument("--config", "-c", required=True, help="path to the YAML config")
    p.add_argument("--file", help="reset: the unreadable document (as `state check` names it)")

    p = sub.add_parser("backup", help="pull, sanitize and store router config backups now")
    p.add_argument("--config", "-c", required=True, help="path to the YAML config")
    p.add_argument("--router", help="only this router")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("render", help="print each router's VyOS config from AWS and the sites")
    p.add_argument("--config", "-c", required=True, help="path to the YAML config")
    p.add_argument("--router", help="only this router")
    p.add_argument("--vyos", choices=["1.3", "1.4", "1.5"], help="syntax (default: show version)")
    p.add_argument("--format", default="commands", choices=["commands", "json"])
    p.add_argument("--show-secrets", action="store_true", help="print pre-shared keys")
    p.add_argument("--diff", action="store_true", help="commands that align the running config")

    sub.add_parser("lab", help="the emulated world (moto + simulated VyOS); see `vpnwatch lab -h`")
    sub.add_parser("demo", help="run the daemon against the emulated world, live, until Ctrl-C")
    return parser


def _cmd_validate(path: str) -> int:
    from vpnwatch.commands.common import load

    config = load(path, machine=True)
    if isinstance(config, int):
        return config
    routers = sum(len(s.routers) for s in config.sites)
    print(f"{path}: ok ({len(config.sites)} sites, {routers} routers)")
    return EXIT_OK


def _cmd_run(path: str) -> int:
    from pathlib import Path

    from vpnwatch.commands.common import load
    from vpnwatch.logs import configure_logging, get_logger
    from vpnwatch.service.run import run_daemon

    config = load(path, machine=True)
    if isinstance(config, int):
        return config
    configure_logging(config.logging.format, config.logging.level)
    return asyncio.run(run_daemon(Path(path), config, get_logger()))


def _cmd_heal(args: argparse.Namespace) -> int:
    from vpnwatch.commands.common import load
    from vpnwatch.commands.heal import heal_by_hand
    from vpnwatch.commands.operator import ask
    from vpnwatch.logs import configure_logging, get_logger
    from vpnwatch.vocabulary import Action, RequestKind

    environ = dict(os.environ)
    if args.dry_run:
        environ["VPNWATCH_HEAL__DRY_RUN"] = "true"
    config = load(args.config, environ=environ)
    if isinstance(config, int):
        return config
    if args.rehearse:
        from vpnwatch.commands.heal import rehearse_by_hand

        configure_logging("json" if args.json else config.logging.format, "warning")
        return asyncio.run(rehearse_by_hand(config, get_logger(), args.router, args.json))
    configure_logging(config.logging.format, config.logging.level)
    if args.reset_breaker:
        return ask(config, RequestKind.RESET_BREAKER)
    if args.router is None:
        print("vpnwatch heal: --router is required (or --reset-breaker)", file=sys.stderr)
        return EXIT_CONFIG
    action = Action(args.action)
    return asyncio.run(heal_by_hand(config, get_logger(), args.router, action, args.yes))


def _cmd_operator(args: argparse.Namespace) -> int:
    from vpnwatch.commands import operator, state
    from vpnwatch.commands.common import load
    from vpnwatch.vocabulary import RequestKind

    config = load(args.config)
    if isinstance(config, int):
        return config
    if args.command == "requests":
        return operator.list_requests(config, args.json)
    if args.command == "state" and args.action == "check":
        return state.state_check(config)
    if args.command == "state":
        if not args.file:
            print("vpnwatch state reset: --file is required", file=sys.stderr)
            return EXIT_CONFIG
        return state.state_reset(config, args.file)
    return operator.ask(config, RequestKind(args.command))


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in ("lab", "demo"):
        try:  # the emulated world needs the `lab` extra
            if args_list[0] == "demo":
                from vpnwatch.lab import demo

                return int(demo.demo_main(args_list[1:]))
            from vpnwatch.lab import cli as lab_cli
        except ImportError as exc:
            print(f"vpnwatch: the emulated world needs the lab extra ({exc})", file=sys.stderr)
            return EXIT_CONFIG
        return int(lab_cli.main(args_list[1:]))
    args = _build_parser().parse_args(args_list)
    if args.command == "validate-config":
        return _cmd_validate(args.file)
    if args.command == "check":
        from vpnwatch.commands.check import run_check

        return run_check(args.config, args.json)
    if args.command == "run":
        return _cmd_run(args.config)
    if args.command == "heal":
        return _cmd_heal(args)
    if args.command in ("pause", "resume", "requests", "state"):
        return _cmd_operator(args)
    if args.command == "backup":
        from vpnwatch.commands.backup import run_backup

        return run_backup(args.config, args.router, args.json)
    if args.command == "render":
        from vpnwatch.commands.render import run_render

        return run_render(
            args.config, args.router, args.vyos, args.format, args.show_secrets, args.diff
        )
    if args.command == "parse":
        from vpnwatch.parsers.cli import run_parse

        return int(run_parse(args.kind, args.file))
    return EXIT_CONFIG
