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
import sys
from collections.abc import Sequence

from vpnwatch.adapters.aws import AwsClient
from vpnwatch.adapters.vyos import VyosClient
from vpnwatch.adapters.vyos_errors import SshError
from vpnwatch.commands.common import load
from vpnwatch.commands.render_inputs import endpoints, fetch_aws, router_version, running_commands
from vpnwatch.commands.render_inputs import ssh_needed as why_no_ssh
from vpnwatch.config import Config
from vpnwatch.errors import ConfigError, ParseError, TemporaryError, VpnwatchError
from vpnwatch.logs import configure_logging
from vpnwatch.observe import plan_routers
from vpnwatch.render.assemble import router_intent
from vpnwatch.render.commands import render_router
from vpnwatch.render.drift import align_commands, vpn_drift
from vpnwatch.render.model import VyosVersion, check_version
from vpnwatch.render.present import RenderOutcome, format_outcomes, selected_routers, site_intents
from vpnwatch.statestore.files import FileStateStore
from vpnwatch.vocabulary import Mode

EXIT_OK, EXIT_UNREACHABLE, EXIT_CONFIG, EXIT_BAD_ANSWER = 0, 1, 2, 3


async def render_routers(
    config: Config, router: str | None, version: VyosVersion | None, diff: bool
) -> list[RenderOutcome]:
    """Render the selected routers (all or nothing: the first problem raises)."""
    chosen = selected_routers(config, router)
    why = why_no_ssh(config, version, diff)
    if why is not None:
        raise ConfigError([why])
    sites = site_intents(config)
    names = {name for name, _ in chosen}
    # relaunched routers are looked up by their new instance and trusted host key
    fleet = FileStateStore(config.state_dir).read(Mode.of(config.heal.dry_run)).fleet
    plans = [p for p in plan_routers(config, fleet.instances) if p.name in names]
    aws = AwsClient(config.aws)
    client = VyosClient(config.ssh) if config.ssh.enabled else None
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
    config = load(config_path)
    if isinstance(config, int):
        return config
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
