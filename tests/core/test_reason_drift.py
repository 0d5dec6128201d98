"""The reason line's VPN drift part (pure): sections and why, never a value, and drift is
never a reason to act."""

from __future__ import annotations

from vpnwatch.core.decision import Decision
from vpnwatch.core.reason import drift_text, reason_line


def test_drift_text_names_routers_and_sections_then_the_unknown() -> None:
    drift = [
        ("hub-r1", "peer, bgp"),
        ("spoke1-r2", "unknown (AWS inputs missing: throttled)"),
        ("spoke2-r1", "vti"),
    ]
    assert drift_text(drift) == (
        "VPN config differs from AWS on hub-r1 (peer, bgp), spoke2-r1 (vti); "
        "VPN drift of spoke1-r2 unknown (AWS inputs missing: throttled)"
    )
    assert drift_text([]) == ""
    assert drift_text([("hub-r1", "unknown (the backup pull failed)")]) == (
        "VPN drift of hub-r1 unknown (the backup pull failed)"
    )


def test_the_reason_line_adds_drift_after_the_decision() -> None:
    plain = reason_line(Decision(), [])
    drifting = reason_line(Decision(vpn_drift=(("hub-r1", "peer"),)), [])
    assert drifting == f"{plain}; VPN config differs from AWS on hub-r1 (peer)"
    assert not Decision(vpn_drift=(("hub-r1", "peer"),)).acts


def test_a_drifting_fleet_is_summed_up() -> None:
    drift = [(f"r{n}", "peer") for n in range(5)] + [
        ("s1", "unknown (the backup pull failed)"),
        ("s2", "unknown (the backup pull failed)"),
    ]
    assert drift_text(drift) == (
        "VPN config differs from AWS on r0 (peer), r1 (peer), r2 (peer) +2 more; "
        "VPN drift of s1 unknown (the backup pull failed) +1 more"
    )
