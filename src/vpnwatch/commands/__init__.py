"""What each `vpnwatch` subcommand does (the argument parser is `cli.py`)."""
