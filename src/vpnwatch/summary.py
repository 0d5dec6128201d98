"""The one-line reason of a cycle when nothing is done (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from vpnwatch.model import Health, RouterVerdict


def observation_reason(verdicts: Sequence[RouterVerdict]) -> str:
    """E.g. "no action: 6/6 routers healthy" or "no action: hub-r1 failed (...); 5/6 healthy"."""
    if not verdicts:
        return "no action: no routers configured"
    healthy = [v for v in verdicts if v.health is Health.HEALTHY]
    others = [v for v in verdicts if v.health is not Health.HEALTHY]
    total = len(verdicts)
    if not others:
        return f"no action: {total}/{total} routers healthy"
    order = {Health.FAILED: 0, Health.DEGRADED: 1, Health.UNKNOWN: 2}
    others.sort(key=lambda v: (order.get(v.health, 3), v.router))
    parts = [
        f"{v.router} {v.health.value}: {v.reason.removeprefix(v.router + ': ')}" for v in others[:3]
    ]
    more = f"; +{len(others) - 3} more" if len(others) > 3 else ""
    return f"no action: {'; '.join(parts)}{more}; {len(healthy)}/{total} healthy"
