"""vpnwatch: watches and heals AWS site-to-site VPNs that terminate on VyOS routers."""

__version__ = "0.1.0"
