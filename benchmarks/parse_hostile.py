"""Time and memory budgets of the parsers on hostile input (issue 9, item 1).

Every case runs in a fresh child process, so its wall time and peak RSS (from wait4) are its
own. Cases:
- `vpnwatch parse config` on 10,000- and 100,000-level nesting (the issue's inputs: 15 s
  and 420 MB, then the OOM killer at 24 GB), on endless input (/dev/zero) and on a 100 MB
  stdin (1.2 GB before);
- each parser on the worst shapes we know at its size limit (deep nesting with a million
  leaves, wide firewall configs, a leaf with 250,000 values, maximal tables, JSON);
- the redaction function on 1 MiB of keyword soup.

Budgets (checked; exit 1 when one is missed): the 10,000-level CLI run answers (data or
exit 3) within 1 s; every CLI run stays under 150 MB; every parse at its limit finishes
within its off-loop deadline (10 s op output, 30 s configs) and 300 MB. Prints a table and,
last, one JSON line. `--quick` runs small sizes (the smoke test; no budgets checked).

    .venv/bin/python benchmarks/parse_hostile.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

VPNWATCH = str(Path(sys.executable).parent / "vpnwatch")
MIB = 1024 * 1024
CLI_SECONDS, CLI_MB = 1.0, 150.0
PARSE_MB = 300.0


@dataclass(frozen=True)
class Outcome:
    name: str
    seconds: float
    rss_mb: float
    exit_code: int
    answer: str  # "data" | "exit 3: <reason>" | ...
    seconds_budget: float | None
    mb_budget: float | None

    @property
    def ok(self) -> bool:
        answered = self.exit_code in (0, 3)
        fast = self.seconds_budget is None or self.seconds <= self.seconds_budget
        small = self.mb_budget is None or self.rss_mb <= self.mb_budget
        return answered and fast and small


def run_child(
    args: list[str], feed: Callable[[IO[bytes]], None] | None = None
) -> tuple[int, float, float, str]:
    """(exit code, wall seconds, peak RSS MiB, last stderr line) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        args,
        stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    feeder = None
    if feed is not None:
        feeder = threading.Thread(target=feed, args=(proc.stdin,), daemon=True)
        feeder.start()
    out_box: list[bytes] = []
    stdout, stderr = proc.stdout, proc.stderr
    assert stdout is not None and stderr is not None
    reader = threading.Thread(target=lambda: out_box.append(stdout.read()), daemon=True)
    reader.start()
    err = stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    if feeder is not None:
        feeder.join(5)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    last = lines[-1] if lines else (out_box[0].decode(errors="replace").strip() if out_box else "")
    return proc.returncode, seconds, usage.ru_maxrss / 1024, last


def feed_bytes(data: bytes) -> Callable[[IO[bytes]], None]:
    def feed(stdin: IO[bytes]) -> None:
        try:
            stdin.write(data)
            stdin.close()
        except OSError:  # the CLI stopped reading: it had enough
            pass

    return feed


def feed_endless(megabytes: int) -> Callable[[IO[bytes]], None]:
    def feed(stdin: IO[bytes]) -> None:
        chunk = b"a" * MIB
        try:
            for _ in range(megabytes):
                stdin.write(chunk)
            stdin.close()
        except OSError:
            pass

    return feed


def deep(levels: int) -> bytes:
    return ("a {\n" * levels + "b c\n" + "}\n" * levels).encode()


def answer_of(code: int, last: str) -> str:
    if code == 0:
        return "data"
    if code == 3:
        return "exit 3: " + last.split(": ", 2)[-1][:60]
    return f"exit {code}: {last[:60]}"


def cli_cases(quick: bool) -> list[Outcome]:
    cases: list[tuple[str, list[str], Callable[[IO[bytes]], None] | None, float | None]] = [
        (
            "cli config 10,000 levels",
            [VPNWATCH, "parse", "config"],
            feed_bytes(deep(10_000)),
            CLI_SECONDS,
        ),
        (
            "cli config 100,000 levels",
            [VPNWATCH, "parse", "config"],
            feed_bytes(deep(100_000)),
            None,
        ),
        ("cli config /dev/zero", [VPNWATCH, "parse", "config", "/dev/zero"], None, None),
        (
            "cli config 100 MB stdin",
            [VPNWATCH, "parse", "config"],
            feed_endless(5 if quick else 100),
            None,
        ),
    ]
    out = []
    for name, args, feed, seconds_budget in cases:
        code, seconds, rss, last = run_child(args, feed)
        out.append(Outcome(name, seconds, rss, code, answer_of(code, last), seconds_budget, CLI_MB))
    return out


# ---------------------------------------------------------------- parser shapes (child side)


def _fill(size: int, line: Callable[[int], str], head: str = "", tail: str = "") -> str:
    parts, total, i = [head], len(head) + len(tail), 0
    while True:
        text = line(i)
        if total + len(text) > size:
            break
        parts.append(text)
        total += len(text)
        i += 1
    parts.append(tail)
    return "".join(parts)


_RULE = (
    "    rule {0} {{\n        action accept\n        destination {{\n            port 443\n"
    "        }}\n    }}\n"
)
_BGP_HEAD = (
    "BGP router identifier 10.0.0.1, local AS number 65000 vrf-id 0\n\n"
    "Neighbor        V         AS   MsgRcvd   MsgSent   TblVer  InQ OutQ  Up/Down State/PfxRcd\n"
)
_IPSEC_HEAD = (
    "Connection    State    Uptime    Bytes In/Out    Packets In/Out    Remote address\n"
    "------------  -------  --------  --------------  ----------------  ----------------\n"
)
_FINGERPRINTS = (
    "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n",
    "-----END SSH HOST KEY FINGERPRINTS-----\n",
)


def _ip(i: int) -> str:
    return f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"


def _bgp_row(i: int) -> str:
    return f"{_ip(i)}  4  65001  1  1  0  0  0 00:01:00  1\n"


def _json_peer(i: int) -> str:
    return f'"{_ip(i)}": {{"state": "Established", "pfxRcd": 1, "remoteAs": 65001}}, '


def _ipsec_row(i: int) -> str:
    return f"peer-{i}-vti   up       3m28s     1K/2K           1/2               {_ip(i)}\n"


def _console_line(i: int) -> str:  # fingerprint-like noise inside a block: read, never data
    return f"[ {i}.000] 256 SHA256:{'A' * 43} x (x) \x1b[0m\n"


def shape(name: str, size: int) -> tuple[str, str]:
    """(parser kind, input text of about `size` characters)."""
    if name == "config deep 64 + leaves":
        return "config", _fill(size - 200, lambda i: f"x{i}\n", "a {\n" * 64, "}\n" * 64)
    if name == "config firewall rules":
        return "config", _fill(size - 20, _RULE.format, "firewall {\n", "}\n")
    if name == "config set commands":
        return "config", _fill(size, lambda i: f"set firewall name F rule {i} action 'accept'\n")
    if name == "config one leaf, many values":
        return "config", _fill(size, lambda i: f"set a b 'v{i}'\n")
    if name == "config long set path":
        return "config", "set " + "a " * (size // 2 - 4) + "\n"
    if name == "bgp summary rows":
        return "bgp-summary", _fill(size, _bgp_row, _BGP_HEAD)
    if name == "bgp summary json peers":
        head = '{"ipv4Unicast": {"routerId": "10.0.0.1", "as": 65000, "peers": {'
        return "bgp-summary", _fill(
            size - 100, _json_peer, head, '"10.255.255.255": {"state": "Idle"}}}}'
        )
    if name == "ipsec sa table rows":
        return "ipsec-sa", _fill(size, _ipsec_row, _IPSEC_HEAD)
    if name == "console output noise":
        return "console-host-keys", _fill(size, _console_line, *_FINGERPRINTS)
    raise ValueError(name)


SHAPES = (
    "config deep 64 + leaves",
    "config firewall rules",
    "config set commands",
    "config one leaf, many values",
    "config long set path",
    "bgp summary rows",
    "bgp summary json peers",
    "ipsec sa table rows",
    "console output noise",
)


def child_main(name: str, size: int) -> int:
    from vpnwatch.errors import ParseError
    from vpnwatch.parsers import (
        parse_bgp_summary,
        parse_config,
        parse_console_host_keys,
        parse_ipsec_sa,
    )

    parsers = {
        "config": parse_config,
        "bgp-summary": parse_bgp_summary,
        "ipsec-sa": parse_ipsec_sa,
        "console-host-keys": parse_console_host_keys,
    }
    if name == "redaction":
        from vpnwatch.redaction import redact

        text = ("secret key password = 'a' \"b\" http://u:p@h " * 30_000)[:size]
        started = time.perf_counter()
        redact(text)
        print(json.dumps({"seconds": time.perf_counter() - started, "answer": "data"}))
        return 0
    kind, text = shape(name, size)
    started = time.perf_counter()
    try:
        parsers[kind](text)
        answer = "data"
    except ParseError as error:
        answer = "parse error: " + str(error)[:60]
    print(json.dumps({"seconds": time.perf_counter() - started, "answer": answer}))
    return 0


def parse_cases(quick: bool) -> list[Outcome]:
    from vpnwatch.offloop import CONFIG_PARSE_DEADLINE, OP_PARSE_DEADLINE
    from vpnwatch.parsers import LIMITS

    out = []
    for name in (*SHAPES, "redaction"):
        kind = "config" if name == "redaction" else shape(name, 10)[0]
        size = 64 * 1024 if quick else LIMITS[kind] - 64
        args = [sys.executable, __file__, "--child", name, str(size)]
        code, _, rss, last = run_child(args)
        result: dict[str, Any] = json.loads(last) if code == 0 else {"seconds": -1, "answer": last}
        seconds, answer = float(result["seconds"]), str(result["answer"])
        budget = CONFIG_PARSE_DEADLINE if kind == "config" else OP_PARSE_DEADLINE
        label = f"{name} ({size // 1024} KiB)"
        out.append(Outcome(label, seconds, rss, code, answer, budget, PARSE_MB))
    return out


def _as_json(o: Outcome) -> dict[str, object]:
    return {
        "seconds": round(o.seconds, 4),
        "rss_mb": round(o.rss_mb, 1),
        "exit_code": o.exit_code,
        "answer": o.answer,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, budgets not checked")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child[0], int(args.child[1]))
    outcomes = cli_cases(args.quick) + parse_cases(args.quick)
    width = max(len(o.name) for o in outcomes)
    print(f"{'case':{width}}  {'seconds':>8}  {'RSS MiB':>8}  ok  answer")
    for o in outcomes:
        ok = "yes" if o.ok else "NO "
        print(f"{o.name:{width}}  {o.seconds:8.3f}  {o.rss_mb:8.1f}  {ok} {o.answer}")
    missed = [o.name for o in outcomes if not o.ok]
    print(
        json.dumps(
            {
                "quick": args.quick,
                "cases": {
                    o.name: {
                        "seconds": round(o.seconds, 4),
                        "rss_mb": round(o.rss_mb, 1),
                        "exit_code": o.exit_code,
                        "answer": o.answer,
                    }
                    for o in outcomes
                },
                "budgets_missed": [] if args.quick else missed,
            }
        )
    )
    return 0 if args.quick or not missed else 1


if __name__ == "__main__":
    sys.exit(main())
