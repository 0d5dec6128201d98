"""`vpnwatch render`: the VyOS configuration the article prescribes for each router, from
AWS's description of its VPN connections and the site config, and the drift of a running
configuration from it. The modules here are pure; `fetch` and `cli` do the I/O."""

from vpnwatch.render.aws_inputs import (
    connection_params,
    from_customer_gateway_xml,
    from_tunnel_options,
)
from vpnwatch.render.commands import render_router
from vpnwatch.render.drift import SECTIONS, VpnDrift, align_commands, section_of, vpn_drift
from vpnwatch.render.model import (
    VYOS_VERSIONS,
    ConnectionIntent,
    ConnectionParams,
    RenderConfigError,
    RenderedRouter,
    RenderInputError,
    RouterIntent,
    SiteIntent,
    VyosVersion,
)
from vpnwatch.render.secrets import mask

__all__ = [
    "SECTIONS",
    "VYOS_VERSIONS",
    "ConnectionIntent",
    "ConnectionParams",
    "RenderConfigError",
    "RenderInputError",
    "RenderedRouter",
    "RouterIntent",
    "SiteIntent",
    "VpnDrift",
    "VyosVersion",
    "align_commands",
    "connection_params",
    "from_customer_gateway_xml",
    "from_tunnel_options",
    "mask",
    "render_router",
    "section_of",
    "vpn_drift",
]
