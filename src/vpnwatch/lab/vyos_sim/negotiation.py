"""Whether a router's IKE/ESP groups can agree with what AWS allows on one tunnel.

AWS answers with the first proposal of the initiator that its tunnel options permit; the
router's groups must contain one proposal AWS permits, for phase 1 and for phase 2 (ESP with
PFS: AWS always uses a phase-2 DH group). The names here are the lab's own reading of the VyOS
proposal keywords (vyatta-cfg-vpn / vyos-1x `get_esp_ike_cipher`) and of AWS's tunnel option
values (docs/render.md), kept apart from the product's render code on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

from vpnwatch.lab.vyos_sim.view import GroupConf

# AWS's defaults when a tunnel's options name none (Site-to-Site VPN "Tunnel options").
AWS_PHASE1_ENCRYPTION = ("AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16")
AWS_PHASE2_ENCRYPTION = AWS_PHASE1_ENCRYPTION
AWS_INTEGRITY = ("SHA1", "SHA2-256", "SHA2-384", "SHA2-512")
AWS_PHASE1_DH = (2, *range(14, 25))
AWS_PHASE2_DH = (2, 5, *range(14, 25))
AWS_IKE_VERSIONS = ("ikev1", "ikev2")

_ENCRYPTION = {
    "aes128": "AES128",
    "aes256": "AES256",
    "aes128gcm128": "AES128-GCM-16",
    "aes256gcm128": "AES256-GCM-16",
}
_HASH = {"sha1": "SHA1", "sha256": "SHA2-256", "sha384": "SHA2-384", "sha512": "SHA2-512"}
_DEFAULT_DH = "2"  # VyOS 1.3 ike-group proposal dh-group default


@dataclass(frozen=True)
class AwsCrypto:
    """What AWS permits on one tunnel (its tunnel options, AWS's defaults where unset)."""

    phase1_encryption: tuple[str, ...] = AWS_PHASE1_ENCRYPTION
    phase1_integrity: tuple[str, ...] = AWS_INTEGRITY
    phase1_dh: tuple[int, ...] = AWS_PHASE1_DH
    phase2_encryption: tuple[str, ...] = AWS_PHASE2_ENCRYPTION
    phase2_integrity: tuple[str, ...] = AWS_INTEGRITY
    phase2_dh: tuple[int, ...] = AWS_PHASE2_DH
    ike_versions: tuple[str, ...] = AWS_IKE_VERSIONS


def _dh(text: str | None) -> int | None:
    value = text or _DEFAULT_DH
    return int(value) if value.isdigit() else None


def _phase1_groups(ike: GroupConf, aws: AwsCrypto) -> list[int]:
    """The DH groups of the router's IKE proposals AWS accepts (empty: phase 1 fails)."""
    if ike.key_exchange is not None and ike.key_exchange not in aws.ike_versions:
        return []
    return [
        group
        for p in ike.proposals
        if _ENCRYPTION.get(p.encryption or "") in aws.phase1_encryption
        and _HASH.get(p.hash or "") in aws.phase1_integrity
        and (group := _dh(p.dh_group)) is not None
        and group in aws.phase1_dh
    ]


def _pfs_group(esp: GroupConf, ike_groups: list[int]) -> list[int]:
    pfs = esp.pfs or "enable"  # VyOS default: PFS with the IKE group's DH group
    if pfs == "disable":
        return []
    if pfs == "enable":
        return ike_groups
    return [int(pfs.removeprefix("dh-group"))] if pfs.startswith("dh-group") else []


def negotiable(ike: GroupConf | None, esp: GroupConf | None, aws: AwsCrypto) -> bool:
    """Both phases can agree on a proposal."""
    if ike is None or esp is None:
        return False
    groups = _phase1_groups(ike, aws)
    if not groups:
        return False
    esp_ok = any(
        _ENCRYPTION.get(p.encryption or "") in aws.phase2_encryption
        and _HASH.get(p.hash or "") in aws.phase2_integrity
        for p in esp.proposals
    )
    return esp_ok and any(g in aws.phase2_dh for g in _pfs_group(esp, groups))
