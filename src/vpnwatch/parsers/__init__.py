"""Pure parsers of router and console output (text in, frozen model values out, no I/O).

Every parser raises `vpnwatch.errors.ParseError` (or one of the subclasses below) with a
one-line reason when its input is not the output it parses; nothing else escapes. Reasons
name a position (line, column) and the kind of problem, never the input's text. Every parser
is linear in its input and refuses input over its limit in `LIMITS` (characters) before
parsing; control characters, invalid addresses and non-finite numbers are parse errors.
"""

from vpnwatch.parsers._boot import MAX_CONFIG_DEPTH
from vpnwatch.parsers._util import (
    MAX_CONFIG_CHARS,
    MAX_CONSOLE_CHARS,
    MAX_OUTPUT_CHARS,
    EmptyOutput,
    ServiceNotRunning,
    UnsupportedCommand,
)
from vpnwatch.parsers.aws_vyatta import (
    MAX_AWS_CONFIG_CHARS,
    AwsVyattaConfig,
    AwsVyattaTunnel,
    parse_aws_vyatta_config,
)
from vpnwatch.parsers.bgp import bgp_summary_supports_json, parse_bgp_summary
from vpnwatch.parsers.console import (
    fingerprint_md5,
    fingerprint_sha256,
    host_key_matches,
    parse_console_host_keys,
    parse_printed_fingerprints,
)
from vpnwatch.parsers.ike import parse_ike_sa
from vpnwatch.parsers.ipsec import parse_ipsec_sa
from vpnwatch.parsers.vyos_config import parse_config, strip_sections
from vpnwatch.parsers.vyos_render import render_config_boot

# Input limits in characters by kind (the `vpnwatch parse` KIND names).
LIMITS: dict[str, int] = {
    "bgp-summary": MAX_OUTPUT_CHARS,
    "ike-sa": MAX_OUTPUT_CHARS,
    "ipsec-sa": MAX_OUTPUT_CHARS,
    "console-host-keys": MAX_CONSOLE_CHARS,
    "config": MAX_CONFIG_CHARS,
    "aws-vyatta-config": MAX_AWS_CONFIG_CHARS,
}

__all__ = [
    "LIMITS",
    "MAX_CONFIG_DEPTH",
    "AwsVyattaConfig",
    "AwsVyattaTunnel",
    "EmptyOutput",
    "ServiceNotRunning",
    "UnsupportedCommand",
    "bgp_summary_supports_json",
    "fingerprint_md5",
    "fingerprint_sha256",
    "host_key_matches",
    "parse_aws_vyatta_config",
    "parse_bgp_summary",
    "parse_config",
    "parse_console_host_keys",
    "parse_ike_sa",
    "parse_ipsec_sa",
    "parse_printed_fingerprints",
    "render_config_boot",
    "strip_sections",
]
