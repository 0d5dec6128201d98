"""The `heal` section: whether and how vpnwatch acts (ladder, guards, deadlines, the
mutation client, per-router AMIs, the rehearsal schedule)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from vpnwatch.config.base import Strict
from vpnwatch.vocabulary import ACTIONS, HEALABLE_KINDS, Action, FailureKind


class BreakerConfig(Strict):
    max_replacements_per_router_per_day: int = Field(2, ge=1)
    max_replacements_per_fleet_per_hour: int = Field(2, ge=1)
    max_flaps: int = Field(5, ge=1)


class HealTimeouts(Strict):
    terminate: float = Field(600.0, gt=0)
    launch: float = Field(300.0, gt=0)
    ssh: float = Field(600.0, gt=0)
    console: float = Field(600.0, gt=0)
    verify: float = Field(300.0, gt=0)
    poll: float = Field(2.0, gt=0)
    running: float = Field(300.0, gt=0)
    api: float = Field(120.0, gt=0)
    restore: float = Field(300.0, gt=0)


class HealAwsConfig(Strict):
    """The heals' own AWS client (mutations), apart from the poll budget."""

    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    max_attempts: int = Field(5, ge=1, le=20)
    retry_backoff: float = Field(1.0, ge=0)
    retry_max_backoff: float = Field(20.0, ge=0)


def _default_ladder() -> dict[FailureKind, list[Action]]:
    # stop-start only for an unreachable router: a reachable one has working hardware.
    return {
        FailureKind.TUNNELS_DOWN: [
            Action.RESET_BGP,
            Action.RESTART_VPN,
            Action.REBOOT,
            Action.REPLACE,
        ],
        FailureKind.UNREACHABLE: [Action.REBOOT, Action.STOP_START, Action.REPLACE],
    }


class VerifyWindows(Strict):
    """Seconds to wait after each action before escalating: a VyOS reboot plus IKE and BGP
    coming back takes minutes, and escalating early would replace a recovering router."""

    reset_bgp: float = Field(60.0, ge=0)
    restart_vpn: float = Field(90.0, ge=0)
    reboot: float = Field(300.0, ge=0)
    stop_start: float = Field(300.0, ge=0)
    replace: float = Field(120.0, ge=0)

    def for_action(self, action: Action) -> float:
        value: float = getattr(self, action.config_key)
        return value


class HealConfig(Strict):
    enabled: bool = True
    dry_run: bool = True  # start safe: log "would have ..." until an operator turns it off
    paused: bool = False
    pause_file: Path | None = None  # default: <state_dir>/PAUSE; present = paused
    strategy: Literal["same-ip", "eni"] = "same-ip"
    ladder: dict[FailureKind, list[Action]] = Field(default_factory=_default_ladder)
    verify_windows: VerifyWindows = VerifyWindows()
    cooldown: float = Field(600.0, ge=0)
    max_concurrent_heals: int = Field(1, ge=1)
    breaker: BreakerConfig = BreakerConfig()
    timeouts: HealTimeouts = HealTimeouts()
    aws: HealAwsConfig = HealAwsConfig()
    ami: dict[str, str] = Field(default_factory=dict)  # router → AMI to relaunch it from
    # Every router's replacement preflight, in the background (0: never).
    rehearsal_interval: float = Field(3600.0, ge=0)
    audit_file: Path | None = None  # default: <state_dir>/audit.jsonl

    @field_validator("ladder")
    @classmethod
    def _ladder_escalates(
        cls, value: dict[FailureKind, list[Action]]
    ) -> dict[FailureKind, list[Action]]:
        for kind, steps in value.items():
            if kind not in HEALABLE_KINDS:
                raise ValueError(f"{kind} is alert only: it cannot have a ladder")
            severities = [a.severity for a in steps]
            if severities != sorted(set(severities)):
                raise ValueError(
                    f"ladder {kind}: steps must escalate without repeats "
                    f"(order: {', '.join(ACTIONS)})"
                )
        return value

    @field_validator("ami")
    @classmethod
    def _ami_ids(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(r for r, a in value.items() if not re.fullmatch(r"ami-[0-9a-f]{8,17}", a))
        if bad:
            raise ValueError(f"not an AMI id (ami-...) for router(s): {', '.join(bad)}")
        return value
