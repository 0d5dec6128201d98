"""The running daemon: the composition root (`wiring`), the loop (`loop`), the process
around it (`run`: metrics server, signals) and config reload (`reload`)."""
