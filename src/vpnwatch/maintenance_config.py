"""The `maintenance:` section of the config (issue 12): AWS's own tunnel endpoint
maintenance, read on a slow schedule; IKE re-initiation after an endpoint replacement; and the
opt-in controlled maintenance window. Frozen pydantic models like the rest of `config.py`."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minutes(value: str) -> int:
    hours, sep, minutes = value.partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()) or len(minutes) != 2:
        raise ValueError(f"{value!r} is not a time of day such as 02:30 (UTC)")
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError(f"{value!r} is not a time of day such as 02:30 (UTC)")
    return int(hours) * 60 + int(minutes)


class MaintenanceWindow(_Strict):
    """When vpnwatch may apply AWS's pending maintenance itself, in UTC. A window whose end
    is before its start runs past midnight; `days` are the days it starts on."""

    days: list[Day] = Field(default_factory=lambda: list(_DAYS), min_length=1)
    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        _minutes(value)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.start == self.end:
            raise ValueError("start and end are the same: the window would be empty")
        return self

    @property
    def start_minute(self) -> int:
        return _minutes(self.start)

    @property
    def end_minute(self) -> int:
        return _minutes(self.end)

    @property
    def weekdays(self) -> frozenset[int]:
        return frozenset(_DAYS.index(d) for d in self.days)


class MaintenanceApply(_Strict):
    """Controlled maintenance (opt-in): apply pending maintenance in the window, one tunnel
    at a time, only while the tunnel's partner and the partner router are healthy."""

    enabled: bool = False
    window: MaintenanceWindow | None = None

    @model_validator(mode="after")
    def _window_when_enabled(self) -> Self:
        if self.enabled and self.window is None:
            raise ValueError("maintenance.apply.enabled needs a window (days, start, end; UTC)")
        return self


class MaintenanceReinitiate(_Strict):
    """After an endpoint replacement, a tunnel the router does not bring back by itself
    (IKEv1, or a passive startup action) gets its IKE re-initiated by vpnwatch."""

    enabled: bool = True
    after: float = Field(60.0, ge=0)  # seconds after LastMaintenanceApplied: the endpoint is back
    verify_window: float = Field(60.0, ge=1)  # then check the SA came back before trying again
    attempts: int = Field(3, ge=1, le=10)


class MaintenanceConfig(_Strict):
    """AWS's own tunnel endpoint maintenance (issue 12)."""

    enabled: bool = True
    interval: float = Field(600.0, ge=10)  # every tunnel's replacement status, this often
    recheck: float = Field(60.0, ge=5)  # a tunnel seen going down is re-read, at most this often
    recent: float = Field(1800.0, ge=60)  # a down tunnel this long after maintenance: AWS's
    max_concurrency: int = Field(4, ge=1, le=32)
    calls_per_second: float = Field(5.0, gt=0, le=100)  # pace of the per-tunnel reads
    reinitiate: MaintenanceReinitiate = MaintenanceReinitiate()
    apply: MaintenanceApply = MaintenanceApply()
