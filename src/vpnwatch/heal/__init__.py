"""Healing: soft fixes and crash-safe instance replacement (DESIGN §4, §5)."""
