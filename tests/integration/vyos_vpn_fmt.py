#!/usr/bin/python3
"""Print strongSwan SAs as VyOS >= 1.3 prints `show vpn ike sa` / `show vpn ipsec sa`.

Runs inside the integration lab as the SSH user (system python3, standard library only):
    swanctl --list-sas --pretty | vyos_vpn_fmt.py ike|ipsec

Layout follows VyOS's op-mode scripts: `show vpn ike sa` prints one "Peer ID / IP" block per
IKE SA (vpn_ike_sa.py, 1.3), `show vpn ipsec sa` one tabulate-"simple" table with a row per
CHILD SA (ipsec.py, 1.4): bytes 1024-based and floored (hurry.filesize), packets 1000-based
without the "B", uptimes like `3m28s` (an uptime of 0 s is an empty cell). No SA at all: the
IKE command prints nothing, the IPsec command prints the bare table header.
"""

from __future__ import annotations

import re
import sys


def parse_pretty(text: str) -> list[tuple[str, dict[str, object]]]:
    """`swanctl --list-sas --pretty` → [(IKE SA name, its nested key/value dict)]."""
    sas: list[tuple[str, dict[str, object]]] = []
    stack: list[dict[str, object]] = []
    in_list: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if in_list is not None:
            if line == "]":
                in_list = None
            else:
                in_list.append(line)
        elif line.endswith("{"):
            name = line[:-1].strip()
            node: dict[str, object] = {}
            if stack:
                stack[-1][name] = node
            elif name == "list-sa event":  # one event per IKE SA; ignore "list-sas reply"
                sas.append(("", node))
            stack.append(node)
        elif line == "}":
            if stack:
                stack.pop()
        elif line.endswith("= ["):
            in_list = []
            stack[-1][line[:-3].strip()] = in_list
        elif " = " in line and stack:
            key, value = line.split(" = ", 1)
            stack[-1][key.strip()] = value.strip()
    named: list[tuple[str, dict[str, object]]] = []
    for _, event in sas:
        for name, ike in event.items():
            if isinstance(ike, dict):
                named.append((name, ike))
    return named


def file_size(count: int, base: int) -> str:
    """hurry.filesize.size: the largest unit that fits, floored (`1K` = 1024..2047 bytes)."""
    for power, suffix in ((5, "P"), (4, "T"), (3, "G"), (2, "M"), (1, "K"), (0, "B")):
        factor = base**power
        if count >= factor:
            return f"{count // factor}{suffix}"
    return f"{count}B"


def seconds_to_human(seconds: int) -> str:
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def simple_table(headers: list[str], rows: list[list[str]]) -> str:
    """tabulate's "simple" format: columns 2 wider than their header, 2-space gutters."""
    widths = [max([len(h) + 2] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rules = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rules] + [line(r) for r in rows])


def text(node: dict[str, object], key: str, default: str = "") -> str:
    value = node.get(key, default)
    return value if isinstance(value, str) else default


def _ike_row(*cells: str) -> str:
    widths = (6, 6, 12, 13, 14, 6, 7, 7)
    padded = [f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)]
    # VyOS: '    %-6s %-6s  %-12s %-13s %-14s %-6s %-7s %-7s' (two spaces after IKEVer)
    return ("    " + " ".join(padded[:2]) + "  " + " ".join(padded[2:])).rstrip()


def show_ike(sas: list[tuple[str, dict[str, object]]]) -> str:
    out = []
    for _, ike in sas:
        remote_id, local_id = text(ike, "remote-id", "%any"), text(ike, "local-id", "%any")
        remote = text(ike, "remote-host") + ("" if remote_id == "%any" else f" {remote_id}")
        local = text(ike, "local-host") + ("" if local_id == "%any" else f" {local_id}")
        encryption = "n/a"
        if "encr-alg" in ike:
            encryption = f"{text(ike, 'encr-alg')}_{text(ike, 'encr-keysize')}".rstrip("_")
        nat_t = "yes" if text(ike, "nat-local") == "yes" or text(ike, "nat-any") == "yes" else "no"
        out.append(
            "Peer ID / IP                            Local ID / IP\n"
            "------------                            -------------\n"
            f"{remote:<39} {local:<39}".rstrip()
            + "\n\n"
            "    State  IKEVer  Encrypt      Hash          D-H Group      NAT-T  A-Time  L-Time\n"
            "    -----  ------  -------      ----          ---------      -----  ------  ------\n"
            + _ike_row(
                "up" if text(ike, "state") == "ESTABLISHED" else "down",
                "IKEv" + text(ike, "version", "?"),
                encryption,
                text(ike, "integ-alg", "n/a"),
                text(ike, "dh-group", "n/a"),
                nat_t,
                text(ike, "established", "0"),
                text(ike, "rekey-time", "0"),
            )
            + "\n"
        )
    return "\n".join(out)


def _natural_key(row: list[str]) -> list[object]:
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", row[0])]


def show_ipsec(sas: list[tuple[str, dict[str, object]]]) -> str:
    rows = []
    for _, ike in sas:
        children = ike.get("child-sas")
        for child in children.values() if isinstance(children, dict) else []:
            if not isinstance(child, dict):
                continue
            up = text(child, "state") == "INSTALLED"
            proposal = text(child, "encr-alg")
            for key, sep in (("encr-keysize", "_"), ("integ-alg", "/"), ("dh-group", "/")):
                if text(child, key):
                    proposal += sep + text(child, key)
            packets = "{}/{}".format(
                file_size(int(text(child, "packets-in", "0")), 1000),
                file_size(int(text(child, "packets-out", "0")), 1000),
            ).replace("B", "")
            rows.append(
                [
                    text(child, "name", "?"),
                    "up" if up else "down",
                    seconds_to_human(int(text(child, "install-time", "0"))),
                    f"{file_size(int(text(child, 'bytes-in', '0')), 1024)}/"
                    f"{file_size(int(text(child, 'bytes-out', '0')), 1024)}",
                    packets,
                    text(ike, "remote-host"),
                    text(ike, "remote-id"),
                    proposal,
                ]
            )
    headers = ["Connection", "State", "Uptime", "Bytes In/Out", "Packets In/Out",
               "Remote address", "Remote ID", "Proposal"]  # fmt: skip
    return simple_table(headers, sorted(rows, key=_natural_key))


def main() -> int:
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what not in ("ike", "ipsec"):
        print("usage: vyos_vpn_fmt.py ike|ipsec < swanctl --list-sas --pretty", file=sys.stderr)
        return 2
    sas = parse_pretty(sys.stdin.read())
    output = show_ike(sas) if what == "ike" else show_ipsec(sas)
    if output:
        print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
