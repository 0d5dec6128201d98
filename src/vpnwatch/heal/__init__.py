"""Healing: soft fixes and crash-safe instance replacement, each mutation through one gate."""
