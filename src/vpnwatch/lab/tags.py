"""Tags the lab puts on what it builds (and the daemon finds routers by)."""

ROUTER_TAG = "vpnwatch:router"  # the router's name
SITE_TAG = "vpnwatch:site"  # the site (VPC) it belongs to
MANAGED_TAG = ("vpnwatch:managed", "true")  # vpnwatch may act on this resource
