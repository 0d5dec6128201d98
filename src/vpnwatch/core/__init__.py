"""The cycle as data: pure functions from what was seen and remembered to what to do.

`cycle.step(snapshot, memory, requests, facts, now, config)` → `(CycleResult, Memory,
Decision)`; nothing here does I/O, reads a clock, or imports asyncio or an adapter
(import-linter holds it to that). docs/architecture.md draws the stages.
"""
