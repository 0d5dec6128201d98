"""Command line: `vpnwatch run|check|validate-config|parse|backup|heal|demo|lab`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vpnwatch import __version__


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpnwatch",
        description="Watch and heal AWS site-to-site VPNs that terminate on VyOS routers.",
    )
    parser.add_argument("--version", action="version", version=f"vpnwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("parse", help="parse router output (stdin or FILE) and print JSON")
    p.add_argument(
        "kind", choices=["bgp-summary", "ike-sa", "ipsec-sa", "console-host-keys", "config"]
    )
    p.add_argument("file", nargs="?", help="file to parse (default: stdin)")

    sub.add_parser("lab", help="the emulated world (moto + simulated VyOS) for demos and tests",
                   add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "lab":
        from vpnwatch.lab.cli import main as lab_main  # the lab needs the `lab` extra

        return lab_main(args_list[1:])
    args = _build_parser().parse_args(args_list)
    if args.command == "parse":
        from vpnwatch.parsers.cli import run_parse

        return run_parse(args.kind, args.file)
    return 2
