"""Guards that keep the lab on loopback and away from real AWS credentials."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import MutableMapping
from urllib.parse import urlparse

from vpnwatch.errors import VpnwatchError

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
DEFAULT_REGION = "us-east-1"


class LabError(VpnwatchError):
    """The emulated world cannot do what was asked (bad input, not running, ...)."""


class NotLoopbackError(LabError):
    """The lab only ever binds to, or talks to, 127.0.0.0/8 or ::1."""


def is_loopback_host(host: str) -> bool:
    """True for an IP literal in 127.0.0.0/8 or ::1 (brackets allowed) and for `localhost`."""
    bare = host.strip().strip("[]")
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def require_loopback_host(host: str) -> str:
    """The host itself, or NotLoopbackError. `localhost` becomes 127.0.0.1 (no DNS lookup)."""
    if not is_loopback_host(host):
        raise NotLoopbackError(
            f"refusing to use host {host!r}: the lab only binds to loopback (127.0.0.0/8 or ::1)"
        )
    bare = host.strip().strip("[]")
    return "127.0.0.1" if bare == "localhost" else bare


def require_loopback_url(url: str) -> str:
    """The URL itself if it is http(s) to a loopback host, else NotLoopbackError."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise NotLoopbackError(f"refusing endpoint {url!r}: not an http(s) URL with a host")
    if not is_loopback_host(parsed.hostname):
        raise NotLoopbackError(
            f"refusing endpoint {url!r}: the lab only talks to loopback (127.0.0.0/8 or ::1), "
            "never to a real AWS endpoint"
        )
    return url


def url_for(host: str, port: int) -> str:
    """http://HOST:PORT with IPv6 literals bracketed."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def ensure_dummy_credentials(
    environ: MutableMapping[str, str] | None = None, region: str = DEFAULT_REGION
) -> None:
    """Set dummy AWS credentials and a default region where none are set."""
    env = os.environ if environ is None else environ
    for key, value in DUMMY_CREDENTIALS.items():
        env.setdefault(key, value)
    env.setdefault("AWS_DEFAULT_REGION", region)
