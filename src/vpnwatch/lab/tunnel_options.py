"""A tunnel's IKE/IPsec options as AWS keeps them: what DescribeVpnConnections reports in
TunnelOptions (only what was set; AWS's defaults apply to the rest), what the generic
CustomerGatewayConfiguration XML shows (one proposal: the first permitted value of each
list), and the options a ModifyVpnTunnelOptions call may change (validated as AWS does).

Values and defaults: the EC2 API reference (VpnTunnelOptionsSpecification,
ModifyVpnTunnelOptionsSpecification) and the Site-to-Site VPN guide "Tunnel options";
docs/render.md cites them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vpnwatch.lab.safety import LabError

ENCRYPTION = ("AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16")
INTEGRITY = ("SHA1", "SHA2-256", "SHA2-384", "SHA2-512")
PHASE1_DH = (2, *range(14, 25))
PHASE2_DH = (2, 5, *range(14, 25))
IKE_VERSIONS = ("ikev1", "ikev2")
DEFAULT_PHASE1_LIFETIME = 28800
DEFAULT_PHASE2_LIFETIME = 3600
DEFAULT_DPD_TIMEOUT = 30
DPD_INTERVAL = 10  # the XML's dead_peer_detection interval; retries = timeout / interval

PSK_PATTERN = re.compile(r"^[A-Za-z1-9._][A-Za-z0-9._]{7,63}$")

# The generic XML's names of the algorithms (aes-128-cbc, sha1 / hmac-sha1-96, group2).
_XML_ENCRYPTION = {
    "AES128": "aes-128-cbc",
    "AES256": "aes-256-cbc",
    "AES128-GCM-16": "aes-128-gcm-16",
    "AES256-GCM-16": "aes-256-gcm-16",
}
_XML_IKE_INTEGRITY = {
    "SHA1": "sha1",
    "SHA2-256": "sha2-256",
    "SHA2-384": "sha2-384",
    "SHA2-512": "sha2-512",
}
_XML_ESP_INTEGRITY = {
    "SHA1": "hmac-sha1-96",
    "SHA2-256": "hmac-sha2-256-128",
    "SHA2-384": "hmac-sha2-384-192",
    "SHA2-512": "hmac-sha2-512-256",
}


@dataclass(frozen=True)
class TunnelCrypto:
    """The options set on one tunnel; empty / None = AWS's default (and not reported)."""

    phase1_encryption: tuple[str, ...] = ()
    phase2_encryption: tuple[str, ...] = ()
    phase1_integrity: tuple[str, ...] = ()
    phase2_integrity: tuple[str, ...] = ()
    phase1_dh: tuple[int, ...] = ()
    phase2_dh: tuple[int, ...] = ()
    ike_versions: tuple[str, ...] = ()
    phase1_lifetime: int | None = None
    phase2_lifetime: int | None = None
    dpd_timeout: int | None = None

    # ------------------------------------------------------------ effective values

    def allowed(self) -> dict[str, tuple[Any, ...]]:
        """What AWS permits on this tunnel (set values, else the defaults)."""
        return {
            "phase1_encryption": self.phase1_encryption or ENCRYPTION,
            "phase2_encryption": self.phase2_encryption or ENCRYPTION,
            "phase1_integrity": self.phase1_integrity or INTEGRITY,
            "phase2_integrity": self.phase2_integrity or INTEGRITY,
            "phase1_dh": self.phase1_dh or PHASE1_DH,
            "phase2_dh": self.phase2_dh or PHASE2_DH,
            "ike_versions": self.ike_versions or IKE_VERSIONS,
        }

    def reported(self) -> dict[str, Any]:
        """The TunnelOption members DescribeVpnConnections shows for what was set."""
        out: dict[str, Any] = {}
        for key, values in (
            ("Phase1EncryptionAlgorithms", self.phase1_encryption),
            ("Phase2EncryptionAlgorithms", self.phase2_encryption),
            ("Phase1IntegrityAlgorithms", self.phase1_integrity),
            ("Phase2IntegrityAlgorithms", self.phase2_integrity),
            ("Phase1DHGroupNumbers", self.phase1_dh),
            ("Phase2DHGroupNumbers", self.phase2_dh),
            ("IkeVersions", self.ike_versions),
        ):
            if values:
                out[key] = [{"Value": v} for v in values]
        for key, value in (
            ("Phase1LifetimeSeconds", self.phase1_lifetime),
            ("Phase2LifetimeSeconds", self.phase2_lifetime),
            ("DpdTimeoutSeconds", self.dpd_timeout),
        ):
            if value is not None:
                out[key] = value
        return out

    def xml(self) -> dict[str, str]:
        """The values of the one proposal the generic XML shows: of the permitted values the
        lowest in AWS's order, the one AWS evaluates first ("Tunnel options")."""
        allowed = self.allowed()
        timeout = self.dpd_timeout or DEFAULT_DPD_TIMEOUT

        def lowest(key: str, order: tuple[Any, ...]) -> Any:
            return next(v for v in order if v in allowed[key])

        return {
            "ike_encryption": _XML_ENCRYPTION[lowest("phase1_encryption", ENCRYPTION)],
            "ike_integrity": _XML_IKE_INTEGRITY[lowest("phase1_integrity", INTEGRITY)],
            "ike_group": f"group{lowest('phase1_dh', PHASE1_DH)}",
            "ike_lifetime": str(self.phase1_lifetime or DEFAULT_PHASE1_LIFETIME),
            "esp_encryption": _XML_ENCRYPTION[lowest("phase2_encryption", ENCRYPTION)],
            "esp_integrity": _XML_ESP_INTEGRITY[lowest("phase2_integrity", INTEGRITY)],
            "esp_group": f"group{lowest('phase2_dh', PHASE2_DH)}",
            "esp_lifetime": str(self.phase2_lifetime or DEFAULT_PHASE2_LIFETIME),
            "dpd_retries": str(max(1, timeout // DPD_INTERVAL)),
            # IKEv2-only tunnels have no IKEv1 main mode to name
            "ike_mode": "main" if "ikev1" in allowed["ike_versions"] else "",
        }


@dataclass(frozen=True)
class TunnelChange:
    """What one ModifyVpnTunnelOptions call asks for (None / absent = keep)."""

    psk: str | None = field(default=None, repr=False)
    inside_cidr: str | None = None
    crypto: Mapping[str, Any] = field(default_factory=dict)  # TunnelCrypto field → value


def _list(params: Mapping[str, str], name: str) -> list[str]:
    values = []
    n = 1
    while f"TunnelOptions.{name}.{n}.Value" in params:
        values.append(params[f"TunnelOptions.{name}.{n}.Value"])
        n += 1
    return values


def _choices(values: list[str], allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    for value in values:
        if value not in allowed:
            raise LabError(f"{what} {value!r} is not one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(values))


def _groups(values: list[str], allowed: tuple[int, ...], what: str) -> tuple[int, ...]:
    out = []
    for value in values:
        if not value.isdigit() or int(value) not in allowed:
            raise LabError(f"{what} {value!r} is not a permitted Diffie-Hellman group")
        out.append(int(value))
    return tuple(dict.fromkeys(out))


def _number(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = params.get(f"TunnelOptions.{name}")
    if raw is None:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise LabError(f"{name} must be a number between {low} and {high}")
    return int(raw)


def parse_change(params: Mapping[str, str]) -> TunnelChange:
    """The changes of a ModifyVpnTunnelOptions request (query params); LabError when AWS
    would refuse them (InvalidParameterValue)."""
    psk = params.get("TunnelOptions.PreSharedKey")
    if psk is not None and not PSK_PATTERN.match(psk):
        raise LabError(
            "PreSharedKey must be 8-64 letters, digits, '.' or '_' and must not start with 0"
        )
    crypto: dict[str, Any] = {}
    for key, name, allowed in (
        ("phase1_encryption", "Phase1EncryptionAlgorithm", ENCRYPTION),
        ("phase2_encryption", "Phase2EncryptionAlgorithm", ENCRYPTION),
        ("phase1_integrity", "Phase1IntegrityAlgorithm", INTEGRITY),
        ("phase2_integrity", "Phase2IntegrityAlgorithm", INTEGRITY),
        ("ike_versions", "IKEVersion", IKE_VERSIONS),
    ):
        values = _list(params, name)
        if values:
            crypto[key] = _choices(values, allowed, name)
    for key, name, groups in (
        ("phase1_dh", "Phase1DHGroupNumber", PHASE1_DH),
        ("phase2_dh", "Phase2DHGroupNumber", PHASE2_DH),
    ):
        values = _list(params, name)
        if values:
            crypto[key] = _groups(values, groups, name)
    for key, name, low, high in (
        ("phase1_lifetime", "Phase1LifetimeSeconds", 900, 28800),
        ("phase2_lifetime", "Phase2LifetimeSeconds", 900, 3600),
        ("dpd_timeout", "DPDTimeoutSeconds", 30, 3600),
    ):
        value = _number(params, name, low, high)
        if value is not None:
            crypto[key] = value
    return TunnelChange(psk, params.get("TunnelOptions.TunnelInsideCidr"), crypto)
