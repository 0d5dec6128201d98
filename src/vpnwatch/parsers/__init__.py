"""Pure parsers of router and console output (text in, frozen model values out, no I/O).

Every parser raises `vpnwatch.errors.ParseError` (or one of the subclasses below) with a
one-line reason when its input is not the output it parses; nothing else escapes.
"""

from vpnwatch.parsers._util import EmptyOutput, ServiceNotRunning, UnsupportedCommand
from vpnwatch.parsers.aws_vyatta import AwsVyattaConfig, AwsVyattaTunnel, parse_aws_vyatta_config
from vpnwatch.parsers.bgp import bgp_summary_supports_json, parse_bgp_summary
from vpnwatch.parsers.console import (
    fingerprint_md5,
    fingerprint_sha256,
    host_key_matches,
    parse_console_host_keys,
)
from vpnwatch.parsers.ike import parse_ike_sa
from vpnwatch.parsers.ipsec import parse_ipsec_sa
from vpnwatch.parsers.vyos_config import parse_config, render_config_boot, strip_sections

__all__ = [
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
    "render_config_boot",
    "strip_sections",
]
