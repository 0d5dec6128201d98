"""`show vpn ike sa` / `show vpn ipsec sa`: the Perl blocks of VyOS 1.1 and the strongSwan
(vici) based tables of 1.3 (show_ipsec_sa.py) and 1.4 (ipsec.py), with their quirks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vpnwatch.lab.vyos_sim.core import SaStatus
from vpnwatch.lab.vyos_sim.formats import (
    Version,
    hurry_size,
    ip_key,
    natural_key,
    perl_bytes,
    seconds_to_human,
)
from vpnwatch.lab.vyos_sim.view import GroupConf, ProposalConf

_REKEY_MARGIN = 540  # strongSwan's default margintime: rekeying starts 9 minutes early
_ENCRYPTION = {
    "aes128": ("AES_CBC", "128"),
    "aes256": ("AES_CBC", "256"),
    "3des": ("3DES_CBC", ""),
    "aes128gcm128": ("AES_GCM_16", "128"),
    "aes256gcm128": ("AES_GCM_16", "256"),
}
_INTEGRITY = {
    "md5": "HMAC_MD5_96",
    "sha1": "HMAC_SHA1_96",
    "sha256": "HMAC_SHA2_256_128",
    "sha384": "HMAC_SHA2_384_192",
    "sha512": "HMAC_SHA2_512_256",
}
_DH = {
    "1": "MODP_768",
    "2": "MODP_1024",
    "5": "MODP_1536",
    "14": "MODP_2048",
    "15": "MODP_3072",
    "16": "MODP_4096",
    "17": "MODP_6144",
    "18": "MODP_8192",
    "19": "ECP_256",
    "20": "ECP_384",
    "21": "ECP_521",
    "22": "MODP_1024_160",
    "23": "MODP_2048_224",
    "24": "MODP_2048_256",
    "25": "ECP_192",
    "26": "ECP_224",
}
_PERL_HEADER = (
    "Peer ID / IP                            Local ID / IP               \n"
    "------------                            -------------\n"
)
_TABLE_HEADERS = (
    "Connection",
    "State",
    "Uptime",
    "Bytes In/Out",
    "Packets In/Out",
    "Remote address",
    "Remote ID",
    "Proposal",
)


@dataclass(frozen=True)
class _Age:
    ike: int  # seconds since the current IKE SA was (re)keyed
    child: int
    ike_rekey: int  # rekey interval
    child_rekey: int


def _first(group: GroupConf | None) -> ProposalConf:
    if group is None or not group.proposals:
        return ProposalConf(None, None, None)
    return group.proposals[0]


def _age(sa: SaStatus, now: float) -> _Age:
    ike_life = sa.ike.lifetime if sa.ike is not None else 28800
    esp_life = sa.esp.lifetime if sa.esp is not None else 3600
    ike_rekey, child_rekey = max(30, ike_life - _REKEY_MARGIN), max(30, esp_life - _REKEY_MARGIN)
    elapsed = max(0, int(now - (sa.since if sa.since is not None else now)))
    return _Age(elapsed % ike_rekey, elapsed % child_rekey, ike_rekey, child_rekey)


def _traffic(age: int) -> tuple[int, int, int, int]:
    """bytes in/out and packets in/out of a child SA: BGP keepalives plus DPD, roughly."""
    return int(age * 11.7), int(age * 11.2), age // 9, age // 10


def _local(sa: SaStatus, private_ip: str) -> str:
    local = sa.peer.local_address
    return private_ip if local in (None, "any", "0.0.0.0") else local


# ---------------------------------------------------------------- VyOS 1.1 (Perl)


def _perl_block(sa: SaStatus, private_ip: str, table: str) -> str:
    text = (
        _PERL_HEADER + f"{sa.peer.remote_address or '0.0.0.0':<39s} {_local(sa, private_ip):<39s}\n"
    )
    if sa.peer.description is not None:
        text += f"\n    Description: {sa.peer.description}\n"
    return text + table + "\n \n"


def _perl_ike(sas: Sequence[SaStatus], now: float, private_ip: str) -> str:
    out = ""
    for sa in sorted(
        (s for s in sas if s.state == "up"), key=lambda s: ip_key(s.peer.remote_address or "")
    ):
        p, life = _first(sa.ike), sa.ike.lifetime if sa.ike is not None else 28800
        row = (
            f"    {'up':<6s} {p.encryption or 'n/a':<8s} {p.hash or 'n/a':<7s} "
            f"{p.dh_group or 'n/a':<8s} {'no':<6s} {_age(sa, now).ike:<7d} {life:<7d}\n"
        )
        table = (
            "\n    State  Encrypt  Hash    D-H Grp  NAT-T  A-Time  L-Time\n"
            "    -----  -------  ----    -------  -----  ------  ------\n" + row
        )
        out += _perl_block(sa, private_ip, table)
    return out


def _perl_ipsec(sas: Sequence[SaStatus], now: float, private_ip: str) -> str:
    out = ""
    for sa in sorted(sas, key=lambda s: ip_key(s.peer.remote_address or "")):
        life = sa.esp.lifetime if sa.esp is not None else 3600
        if sa.state == "up":
            p, age = _first(sa.esp), _age(sa, now).child
            bytes_in, bytes_out, _, _ = _traffic(age)
            cells = (
                "up",
                f"{perl_bytes(bytes_out)}/{perl_bytes(bytes_in)}",
                p.encryption or "n/a",
                p.hash or "n/a",
                str(age),
            )
        else:
            cells = ("down", "n/a", "n/a", "n/a", "0")
        state, traffic, enc, hash_, atime = cells
        row = (
            f"    {'vti':<7s} {state:<6s} {traffic:<14s} {enc:<8s} {hash_:<7s} {'no':<6s} "
            f"{atime:<7s} {life:<7d} {'all':<2s}\n"
        )
        table = (
            "\n    Tunnel  State  Bytes Out/In   Encrypt  Hash    NAT-T  A-Time  L-Time  Proto\n"
            "    ------  -----  -------------  -------  ----    -----  ------  ------  -----\n"
            + row
        )
        out += _perl_block(sa, private_ip, table)
    return out


# ---------------------------------------------------------------- VyOS 1.3 / 1.4 (vici)


def _ike_version(sa: SaStatus) -> str:
    exchange = sa.ike.key_exchange if sa.ike is not None else None
    return "IKEv1" if exchange == "ikev1" else "IKEv2"  # unset: charon initiates IKEv2


def _encryption(p: ProposalConf) -> str:
    alg, size = _ENCRYPTION.get(p.encryption or "", ("n/a", ""))
    return f"{alg}_{size}" if size else alg


def _vici_ike(sas: Sequence[SaStatus], now: float, private_ip: str) -> str:
    out = ""
    for sa in sas:
        if sa.state == "none":
            continue
        remote, local = sa.peer.remote_address or "0.0.0.0", _local(sa, private_ip)
        if sa.state == "up":
            p, age = _first(sa.ike), _age(sa, now)
            cells = (
                "up",
                _encryption(p),
                _INTEGRITY.get(p.hash or "", "n/a"),
                _DH.get(p.dh_group or "", "n/a"),
                str(age.ike),
                str(age.ike_rekey - age.ike),
            )
            remote_str = f"{remote} {remote}"
        else:
            cells = ("down", "n/a", "n/a", "n/a", "0", "0")
            remote_str = remote
        state, enc, integ, dh, atime, ltime = cells
        out += _PERL_HEADER + f"{remote_str:<39s} {f'{local} {local}':<39s}\n"
        out += (
            "\n    State  IKEVer  Encrypt      Hash          D-H Group      NAT-T  A-Time  L-Time\n"
            "    -----  ------  -------      ----          ---------      -----  ------  ------\n"
        )
        out += (
            f"    {state:<6s} {_ike_version(sa):<6s}  {enc:<12s} {integ:<13s} {dh:<14s} "
            f"{'no':<6s} {atime:<7s} {ltime:<7s}\n\n"
        )
    return out


def _child_name(sa: SaStatus, version: Version) -> str:
    if version == "1.3":
        return f"peer_{sa.peer.name.replace('.', '-').replace('@', '')}_vti"
    return f"{sa.peer.name}-vti"


def _proposal(sa: SaStatus) -> str:
    p = _first(sa.esp)
    parts = [_encryption(p), _INTEGRITY.get(p.hash or "", "")]
    pfs = sa.esp.pfs if sa.esp is not None else None
    if pfs == "enable" or pfs is None:
        parts.append(_DH.get(_first(sa.ike).dh_group or "", ""))
    elif pfs.startswith("dh-group"):
        parts.append(_DH.get(pfs.removeprefix("dh-group"), ""))
    return "/".join(part for part in parts if part)


def _vici_row(sa: SaStatus, now: float, version: Version) -> list[str]:
    name, remote = _child_name(sa, version), sa.peer.remote_address or "N/A"
    if sa.state != "up":
        return [name, "down", "N/A", "N/A", "N/A", "N/A", "N/A", "N/A"]
    age = _age(sa, now)
    bytes_in, bytes_out, pkts_in, pkts_out = _traffic(age.child)
    packets = f"{hurry_size(pkts_in, si=True)}/{hurry_size(pkts_out, si=True)}".replace("B", "")
    # 1.3 shows the IKE SA's age and hides an ID equal to the address; 1.4 the child's.
    uptime = seconds_to_human(age.ike if version == "1.3" else age.child)
    remote_id = "N/A" if version == "1.3" else remote
    return [
        name,
        "up",
        uptime,
        f"{hurry_size(bytes_in)}/{hurry_size(bytes_out)}",
        packets,
        remote,
        remote_id,
        _proposal(sa),
    ]


def tabulate_simple(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """python-tabulate's "simple" format for string cells (what VyOS's op-mode uses)."""
    widths = [max([len(h) + 2, *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines) + "\n"


def _vici_ipsec(sas: Sequence[SaStatus], now: float, version: Version) -> str:
    shown = [s for s in sas if s.state == "up" or (s.state == "connecting" and version == "1.3")]
    rows = sorted((_vici_row(s, now, version) for s in shown), key=lambda r: natural_key(r[0]))
    return tabulate_simple(_TABLE_HEADERS, rows)


# ---------------------------------------------------------------- entry points


def ike_sa_text(version: Version, sas: Sequence[SaStatus], now: float, private_ip: str) -> str:
    if version == "1.1":
        return _perl_ike(sas, now, private_ip)
    return _vici_ike(sas, now, private_ip)


def ipsec_sa_text(version: Version, sas: Sequence[SaStatus], now: float, private_ip: str) -> str:
    if version == "1.1":
        return _perl_ipsec(sas, now, private_ip)
    return _vici_ipsec(sas, now, version)
