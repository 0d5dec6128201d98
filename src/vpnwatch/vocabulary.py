"""The words vpnwatch decides, persists and prints with: one definition each.

The config validates against these, the CLI offers them as choices, the policy orders them,
the state store writes them and the reason line and the metrics print their values.
"""

from __future__ import annotations

from enum import StrEnum


class Health(StrEnum):
    """A router's verdict for one cycle."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"  # partly working, or failing but not yet for long enough
    FAILED = "failed"
    UNKNOWN = "unknown"  # could not observe: never a reason to act


class TunnelStatus(StrEnum):
    UP = "UP"
    DOWN = "DOWN"
    UNKNOWN = "UNKNOWN"


class SshErrorKind(StrEnum):
    UNREACHABLE = "unreachable"  # connection refused / no route / connect timeout
    TIMEOUT = "timeout"  # connected, but a command did not answer in time
    HOST_KEY = "host-key"  # host key not in known_hosts or mismatched
    AUTH = "auth"
    PARSE = "parse"  # answered with something we could not parse
    COMMAND = "command"  # the command failed on the router


class FailureKind(StrEnum):
    """Why a router is failed; the escalation ladder is chosen by it."""

    TUNNELS_DOWN = "bgp-ipsec-down"  # reachable, but no tunnel up on both sides
    UNREACHABLE = "unreachable"  # no SSH and every tunnel down on AWS, or instance gone
    INSTANCE_STOPPED = "instance-stopped"  # an operator's stop (resize...): alert, never heal


# The kinds a ladder may be configured for; everything else is alert only.
HEALABLE_KINDS = (FailureKind.TUNNELS_DOWN, FailureKind.UNREACHABLE)


class Action(StrEnum):
    """What a heal does, weakest first: an episode only ever escalates."""

    RESET_BGP = "reset-bgp"
    RESTART_VPN = "restart-vpn"
    REBOOT = "reboot"
    STOP_START = "stop-start"  # new hardware, same instance, ENI, IP, EIP and EBS config
    REPLACE = "replace"

    @property
    def severity(self) -> int:
        return list(Action).index(self)

    @property
    def verb(self) -> str:
        """As the reason line says it: "rebooting hub-r1: ..."."""
        return _VERBS[self]

    @property
    def config_key(self) -> str:
        """The key of this action under `heal.verify_windows`."""
        return self.value.replace("-", "_")


_VERBS = {
    Action.RESET_BGP: "resetting BGP on",
    Action.RESTART_VPN: "restarting VPN on",
    Action.REBOOT: "rebooting",
    Action.STOP_START: "stopping and starting",
    Action.REPLACE: "replacing",
}

ACTIONS = tuple(Action)


class Mode(StrEnum):
    """Live heals mutate; dry-run heals only say what they would have done. Safety state is
    kept per mode, so neither can wipe or inflate the other's."""

    LIVE = "live"
    DRY_RUN = "dry-run"

    @classmethod
    def of(cls, dry_run: bool) -> Mode:
        return cls.DRY_RUN if dry_run else cls.LIVE


class HealStatus(StrEnum):
    RUNNING = "running"  # in progress, or interrupted and not yet resumed or abandoned
    DONE = "done"
    FAILED = "failed"
    ABANDONED = "abandoned"  # interrupted before its point of no return; decided afresh


class RequestKind(StrEnum):
    """What an operator can ask the leader's loop to do (`vpnwatch heal|pause|resume`)."""

    HEAL = "heal"
    RESET_BREAKER = "reset-breaker"
    PAUSE = "pause"
    RESUME = "resume"


class RequestStatus(StrEnum):
    PENDING = "pending"  # written, not yet taken by a leader
    DONE = "done"  # carried out (a heal request: its heal started)
    REFUSED = "refused"  # a guard said no; the answer says which


class Hold(StrEnum):
    """Why a cycle starts no heal (fleet-wide) or leaves one failed router alone."""

    # fleet-wide, in the order they are checked
    STATE_ERROR = "state-error"  # safety state unreadable: observe only
    STANDBY = "standby"  # another process holds the lease: observe only
    HEALING_OFF = "healing-off"  # heal.enabled false or no SSH: observe only
    HEAL_IN_PROGRESS = "heal-in-progress"
    BREAKER_OPEN = "breaker-open"
    BREAKER_OPENING = "breaker-opening"
    # per failed router, in the order they are checked
    BEING_HEALED = "being-healed"
    KIND_UNKNOWN = "kind-unknown"
    VERIFYING = "verifying"
    ALERT_ONLY = "alert-only"
    LADDER_EXHAUSTED = "ladder-exhausted"
    PAUSED = "paused"
    NOT_LEADER = "not-leader"
    PAIR_GUARD = "pair-guard"
    COOLDOWN = "cooldown"
    UNMANAGED = "unmanaged"
    NO_BACKUP = "no-backup"
    # raised while carrying out a decision
    ACTING_FAILED = "acting-failed"
