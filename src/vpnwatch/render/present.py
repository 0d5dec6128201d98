"""What `vpnwatch render` selects and prints (pure): the routers and sites it renders, and
its output as commands or JSON, keys masked unless asked for. The I/O is
`vpnwatch.commands.render`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vpnwatch.config import Config, SiteConfig
from vpnwatch.errors import ConfigError
from vpnwatch.render.drift import VpnDrift
from vpnwatch.render.model import RenderedRouter, SiteIntent
from vpnwatch.render.secrets import mask

EXIT_OK, EXIT_UNREACHABLE, EXIT_CONFIG, EXIT_BAD_ANSWER = 0, 1, 2, 3


@dataclass(frozen=True)
class RenderOutcome:
    rendered: RenderedRouter
    drift: VpnDrift | None = None  # with --diff
    align: tuple[str, ...] = ()  # with --diff


def site_intents(config: Config) -> dict[str, SiteIntent]:
    """Every site with a `vpn` section, as the renderer sees it."""
    intents = {}
    for site in config.sites:
        if site.vpn is not None:
            advertise = site.vpn.aggregate or site.vpn.vpc_cidr
            intents[site.name] = SiteIntent(site.name, site.role, site.vpn.vpc_cidr, advertise)
    return intents


def selected_routers(config: Config, router: str | None) -> list[tuple[str, SiteConfig]]:
    chosen = [(r.name, s) for s in config.sites for r in s.routers if router in (None, r.name)]
    if not chosen:
        known = ", ".join(r.name for s in config.sites for r in s.routers)
        raise ConfigError([f"no router named {router!r} (known: {known})"])
    missing = sorted({s.name for _, s in chosen if s.vpn is None})
    if missing:
        why = "no vpn section (vpn.vpc_cidr, and vpn.aggregate on a hub)"
        raise ConfigError([f"site {name!r}: {why}" for name in missing])
    return chosen


def format_outcomes(outcomes: Sequence[RenderOutcome], *, as_json: bool, secrets: bool) -> str:
    def shown(lines: Sequence[str]) -> list[str]:
        return list(lines) if secrets else list(mask(lines))

    if as_json:
        routers: list[dict[str, Any]] = []
        for o in outcomes:
            entry: dict[str, Any] = {"name": o.rendered.name, "version": o.rendered.version}
            if o.drift is None:
                entry["commands"] = shown(o.rendered.commands)
            else:
                entry["drift"] = {s.section: s.drifted for s in o.drift.sections}
                entry["reason"] = o.drift.reason()
                entry["commands"] = shown(o.align)
            routers.append(entry)
        return json.dumps({"routers": routers}, indent=2)
    blocks = []
    for o in outcomes:
        head = f"# {o.rendered.name} (VyOS {o.rendered.version})"
        if o.drift is None:
            blocks.append("\n".join([head, *shown(o.rendered.commands)]))
        else:
            blocks.append("\n".join([f"{head}: {o.drift.reason()}", *shown(o.align)]))
    return "\n\n".join(blocks)
