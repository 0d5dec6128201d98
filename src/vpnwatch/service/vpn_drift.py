"""The daemon's VPN drift check: on each backup pull, the router's running VPN/BGP
configuration against the one rendered from AWS (issue 14). Observation only: nothing here
acts on a router or on AWS.

The backup manager calls `check(results, pulled)` when a scheduled batch of pulls ends (the
backup interval: a slow schedule, never the cycle's path). The AWS inputs are read then, a
few calls per region for the whole batch (`adapters.vpn_facts`), for the routers as the
latest cycle observed them. Each router's `show version` picks the syntax; the comparison is
`render.drift.vpn_drift` (sections and counts, never values), run in the parse pool.

A router is compared only when its site has a `vpn` section (what `vpnwatch render` needs).
When its pull failed, its config does not parse, its VyOS version is unknown or the AWS
inputs are missing, nothing is claimed: its drift series are withdrawn and the reason line
says why. The PSKs AWS reports become known secrets for `vpnwatch.redaction`, so a key
rotated on AWS's side is masked wherever it might surface.

Results live in `ControlState.vpn_drift` (rendered at scrape time as
`vpnwatch_vpn_config_drift{router,section}`) and in `reasons()` for the cycle's line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vpnwatch.adapters.aws import AwsClient
from vpnwatch.adapters.vpn_facts import region_facts
from vpnwatch.backup.manager import BackupResult, PulledConfig
from vpnwatch.config import Config
from vpnwatch.errors import VpnwatchError
from vpnwatch.metrics import ControlState
from vpnwatch.model import RouterAwsView
from vpnwatch.offloop import CONFIG_PARSE_DEADLINE, parse_off_loop
from vpnwatch.parsers import parse_config
from vpnwatch.redaction import redact, remember_secrets, secrets_in_commands
from vpnwatch.render.assemble import RouterFacts, router_intent
from vpnwatch.render.commands import render_router
from vpnwatch.render.drift import VpnDrift, vpn_drift
from vpnwatch.render.model import RouterIntent
from vpnwatch.render.present import site_intents
from vpnwatch.render.version import vyos_version


@dataclass(frozen=True)
class DriftStatus:
    """One router's last drift check: the drifting sections, or why it was not compared."""

    router: str
    at: float
    drifted: tuple[str, ...] = ()
    unknown: str = ""  # non-empty: not compared, and why (never a value)

    def said(self) -> str:
        """What the reason line says ("" for a router that matches AWS)."""
        if self.unknown:
            return f"unknown ({self.unknown})"
        return ", ".join(self.drifted)


def compare(running: str, show_version: str, intent: RouterIntent) -> VpnDrift:
    """In the parse pool: the running config (as printed) against the rendered one for the
    router's VyOS. ParseError when either cannot be read. AWS's keys become known secrets."""
    rendered = render_router(intent, vyos_version(show_version))
    remember_secrets(secrets_in_commands(rendered.commands))
    return vpn_drift(parse_config(running).commands, rendered.commands)


def _why(exc: BaseException) -> str:
    problems = getattr(exc, "problems", None)
    text = "; ".join(problems) if problems else (str(exc) or type(exc).__name__)
    return redact(text)


class VpnDriftWatch:
    def __init__(
        self,
        config: Callable[[], Config],
        aws: AwsClient,
        *,
        control: ControlState,
        clock: Callable[[], float],
        log: Any,
    ) -> None:
        self._config = config
        self._aws = aws
        self._control = control
        self._clock = clock
        self._log = log
        self._views: dict[str, RouterAwsView] = {}
        self._status: dict[str, DriftStatus] = {}

    def observed(self, views: Mapping[str, RouterAwsView]) -> None:
        """The latest cycle's AWS view of each router (where its connections are)."""
        self._views = dict(views)

    @property
    def status(self) -> Mapping[str, DriftStatus]:
        return dict(self._status)

    def reasons(self) -> dict[str, str]:
        """Router → its drifting sections or why it is unknown (matching routers omitted)."""
        return {r: s.said() for r, s in sorted(self._status.items()) if s.said()}

    async def check(self, results: Sequence[BackupResult], pulled: Sequence[PulledConfig]) -> None:
        config = self._config()
        sites = site_intents(config)
        site_of = {r.name: s.name for s in config.sites for r in s.routers}
        printed = {p.router: p for p in pulled}
        todo: list[PulledConfig] = []
        for result in results:
            if site_of.get(result.router) not in sites:
                # no vpn section (any more, after a reload): nothing to compare, nothing said
                self._status.pop(result.router, None)
                self._control.vpn_drift.pop(result.router, None)
                continue
            if result.router not in printed:
                self._unknown(result.router, "the backup pull failed")
            elif result.router not in self._views or self._views[result.router].error:
                self._unknown(result.router, "AWS inputs missing: the router was not observed")
            else:
                todo.append(printed[result.router])
        if not todo:
            return
        try:
            facts = await self._facts([self._views[p.router] for p in todo])
        except (VpnwatchError, OSError) as exc:
            for p in todo:
                self._unknown(p.router, f"AWS inputs missing: {_why(exc)}")
            return
        asn = {s.name: s.vpn.bgp_asn for s in config.sites if s.vpn is not None}
        for p in todo:
            site = sites[site_of[p.router]]
            try:
                intent = router_intent(facts[p.router], site, list(sites.values()), asn[site.name])
                drift = await parse_off_loop(
                    compare, p.running, p.show_version, intent,
                    deadline=CONFIG_PARSE_DEADLINE, what="VPN drift",
                )  # fmt: skip
            except (VpnwatchError, KeyError) as exc:
                self._unknown(p.router, f"not compared: {_why(exc)}")
                continue
            self._record(DriftStatus(p.router, self._clock(), drift.drifted), drift)

    async def _facts(self, views: Sequence[RouterAwsView]) -> dict[str, RouterFacts]:
        by_region: dict[str, list[RouterAwsView]] = {}
        for view in views:
            by_region.setdefault(view.region, []).append(view)
        facts: dict[str, RouterFacts] = {}
        for region, region_views in sorted(by_region.items()):
            facts.update(await region_facts(self._aws, region, region_views))
        return facts

    def _unknown(self, router: str, why: str) -> None:
        before = self._status.get(router)
        self._status[router] = DriftStatus(router, self._clock(), unknown=why)
        self._control.vpn_drift.pop(router, None)  # nothing claimed, not even "no drift"
        if before is None or before.unknown != why:
            self._log.warning("vpn drift unknown", router=router, why=why)

    def _record(self, status: DriftStatus, drift: VpnDrift) -> None:
        before = self._status.get(status.router)
        self._status[status.router] = status
        self._control.vpn_drift[status.router] = {s.section: s.drifted for s in drift.sections}
        if status.drifted:
            self._log.warning("vpn config drift", router=status.router, reason=drift.reason())
        elif before is None or before.drifted or before.unknown:
            self._log.info("vpn config matches AWS", router=status.router)
