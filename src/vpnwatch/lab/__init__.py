"""The emulated world: moto-based AWS on loopback plus simulated VyOS routers.

Used by `vpnwatch demo`, `vpnwatch lab ...`, the tests and the benchmarks; never imported by
the product. Importing this package is cheap: moto and boto3 are only loaded by the modules
that need them (`vpnwatch.lab.aws_world`, `vpnwatch.lab.topology`, `vpnwatch.lab.world`).
"""
