"""`vpnwatch render --config F [--router R] [--vyos V] [--format commands|json]
[--show-secrets] [--diff]`: print each router's VyOS configuration as the article prescribes
it, from AWS and the site config; with `--diff`, the commands that bring the running
configuration in line.

Exit 0 when every router rendered; 1 when AWS or a router could not be reached; 2 on a
config problem (no `vpn` section, unknown router); 3 when AWS's or a router's answer cannot
be used (malformed XML, missing tunnel options, unknown VyOS version). On any error nothing
is printed on stdout. Keys appear only on stdout and only with `--show-secrets`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vpnwatch.config import Config, SiteConfig
from vpnwatch.errors import ConfigError, ParseError, VpnwatchError
from vpnwatch.render.assemble import router_intent
from vpnwatch.render.commands import render_router
from vpnwatch.render.drift import VpnDrift, align_commands, vpn_drift
from vpnwatch.render.model import RenderedRouter, SiteIntent, VyosVersion, check_version
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


def _selected(config: Config, router: str | None) -> list[tuple[str, SiteConfig]]:
    chosen = [(r.name, s) for s in config.sites for r in s.routers if router in (None, r.name)]
    if not chosen:
        known = ", ".join(r.name for s in config.sites for r in s.routers)
        raise ConfigError([f"no router named {router!r} (known: {known})"])
    missing = sorted({s.name for _, s in chosen if s.vpn is None})
    if missing:
        why = "no vpn section (vpn.vpc_cidr, and vpn.aggregate on a hub)"
        raise ConfigError([f"site {name!r}: {why}" for name in missing])
    return chosen


async def render_routers(
    config: Config, router: str | None, version: VyosVersion | None, diff: bool
) -> list[RenderOutcome]:
    """Render the selected routers (all or nothing: the first problem raises)."""
    from vpnwatch.adapters.aws import AwsClient
    from vpnwatch.app import aws_settings, vyos_client
    from vpnwatch.observe import plan_routers
    from vpnwatch.render.fetch import endpoints, fetch_aws, router_version, running_commands
    from vpnwatch.render.fetch import ssh_needed as why_no_ssh
    from vpnwatch.statefiles import FleetState

    chosen = _selected(config, router)
    why = why_no_ssh(config, version, diff)
    if why is not None:
        raise ConfigError([why])
    sites = site_intents(config)
    names = {name for name, _ in chosen}
    fleet = FleetState(config.state_dir)
    plans = [p for p in plan_routers(config, fleet.instances) if p.name in names]
    aws = AwsClient(aws_settings(config))
    client = vyos_client(config) if config.ssh.enabled else None
    try:
        fetched = await fetch_aws(aws, plans)
        site_of = {name: sites[site.name] for name, site in chosen}
        asn_of = {name: site.vpn.bgp_asn if site.vpn else None for name, site in chosen}
        intents = {
            p.name: router_intent(
                fetched.facts[p.name], site_of[p.name], list(sites.values()), asn_of[p.name]
            )
            for p in plans
        }
        where = {}
        if client is not None and (version is None or diff):
            where = endpoints(plans, fetched.views, fleet.host_keys)
        outcomes = []
        for plan in plans:
            speaks = version
            if speaks is None:
                assert client is not None
                speaks = await router_version(client, where[plan.name])
            rendered = render_router(intents[plan.name], speaks)
            if not diff:
                outcomes.append(RenderOutcome(rendered))
                continue
            assert client is not None
            running = await running_commands(client, where[plan.name])
            outcomes.append(
                RenderOutcome(
                    rendered,
                    vpn_drift(running, rendered.commands),
                    align_commands(running, rendered.commands),
                )
            )
        return outcomes
    finally:
        if client is not None:
            await client.close()
        aws.close()


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


def _fail(code: int, problems: Sequence[str]) -> int:
    print("vpnwatch render: cannot render:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    return code


def run_render(
    config_path: str,
    router: str | None,
    vyos: str | None,
    output: str,
    show_secrets: bool,
    diff: bool,
) -> int:
    from vpnwatch.adapters.vyos_errors import SshError
    from vpnwatch.config import load_config
    from vpnwatch.errors import TemporaryError
    from vpnwatch.logs import configure_logging

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return _fail(EXIT_CONFIG, [f"invalid config {config_path}: {p}" for p in exc.problems])
    version = check_version(vyos) if vyos is not None else None
    configure_logging("json" if output == "json" else config.logging.format, "warning")
    try:
        outcomes = asyncio.run(render_routers(config, router, version, diff))
    except ConfigError as exc:
        return _fail(EXIT_CONFIG, exc.problems)
    except ParseError as exc:
        return _fail(EXIT_BAD_ANSWER, [str(exc)])
    except (TemporaryError, SshError) as exc:
        return _fail(EXIT_UNREACHABLE, [str(exc)])
    except VpnwatchError as exc:
        return _fail(EXIT_UNREACHABLE, [f"{type(exc).__name__}: {exc}"])
    print(format_outcomes(outcomes, as_json=output == "json", secrets=show_secrets))
    return EXIT_OK
