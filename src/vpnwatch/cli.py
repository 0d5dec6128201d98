"""Command line: `vpnwatch run|check|validate-config|parse|lab|demo` (DESIGN §7)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence

from vpnwatch import __version__
from vpnwatch.errors import ConfigError

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
    p.add_argument(
        "--action",
        default="replace",
        choices=["reset-bgp", "restart-vpn", "reboot", "stop-start", "replace"],
    )
    p.add_argument("--dry-run", action="store_true", help="only log what would be done")
    p.add_argument(
        "--rehearse",
        action="store_true",
        help="run the replacement's preflight for real (DryRun calls, no change); exit 0/1",
    )
    p.add_argument("--json", action="store_true", help="with --rehearse: print JSON")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--reset-breaker", action="store_true", help="close the circuit breaker")

    p = sub.add_parser("backup", help="pull, sanitize and store router config backups now")
    p.add_argument("--config", "-c", required=True, help="path to the YAML config")
    p.add_argument("--router", help="only this router")
    p.add_argument("--json", action="store_true", help="print JSON")

    sub.add_parser("lab", help="the emulated world (moto + simulated VyOS); see `vpnwatch lab -h`")
    sub.add_parser("demo", help="run the daemon against the emulated world, live, until Ctrl-C")
    return parser


def _config_error(exc: ConfigError, path: str) -> int:
    print(f"vpnwatch: invalid config {path}:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  - {problem}", file=sys.stderr)
    return EXIT_CONFIG


def _cmd_validate(path: str) -> int:
    from vpnwatch.config import load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        return _config_error(exc, path)
    routers = sum(len(s.routers) for s in config.sites)
    print(f"{path}: ok ({len(config.sites)} sites, {routers} routers)")
    return EXIT_OK


def _cmd_check(path: str, as_json: bool) -> int:
    from vpnwatch.app import check_once
    from vpnwatch.config import load_config
    from vpnwatch.logs import configure_logging, get_logger
    from vpnwatch.report import as_json as to_json
    from vpnwatch.report import as_text, exit_code

    try:
        config = load_config(path)
    except ConfigError as exc:
        return _config_error(exc, path)
    configure_logging("json" if as_json else config.logging.format, "warning")
    result = asyncio.run(check_once(config, get_logger()))
    if as_json:
        print(json.dumps(to_json(result), indent=2))
    else:
        print(as_text(result))
    return exit_code(result)


def _cmd_run(path: str) -> int:
    from vpnwatch.app import run_daemon
    from vpnwatch.config import load_config
    from vpnwatch.logs import configure_logging, get_logger

    try:
        config = load_config(path)
    except ConfigError as exc:
        return _config_error(exc, path)
    configure_logging(config.logging.format, config.logging.level)
    return asyncio.run(run_daemon(config, get_logger()))


def _cmd_heal(args: argparse.Namespace) -> int:
    from vpnwatch.config import load_config
    from vpnwatch.logs import configure_logging, get_logger
    from vpnwatch.manual import run_heal

    environ = dict(os.environ)
    if args.dry_run:
        environ["VPNWATCH_HEAL__DRY_RUN"] = "true"
    try:
        config = load_config(args.config, environ=environ)
    except ConfigError as exc:
        return _config_error(exc, args.config)
    if args.rehearse:
        from vpnwatch.heal.rehearse import run_rehearsal

        configure_logging("json" if args.json else config.logging.format, "warning")
        return run_rehearsal(config, args.router, args.json)
    configure_logging(config.logging.format, config.logging.level)
    return run_heal(config, get_logger(), args.router, args.action, args.yes, args.reset_breaker)


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
        return _cmd_check(args.config, args.json)
    if args.command == "run":
        return _cmd_run(args.config)
    if args.command == "heal":
        return _cmd_heal(args)
    if args.command == "backup":
        from vpnwatch.backup.cli import run_backup

        return int(run_backup(args.config, args.router, args.json))
    if args.command == "parse":
        from vpnwatch.parsers.cli import run_parse

        return int(run_parse(args.kind, args.file))
    return EXIT_CONFIG
