"""Which syntax to render for a router, from its `show version`."""

from __future__ import annotations

import pytest

from vpnwatch.errors import ParseError
from vpnwatch.render.version import vyos_version

V13 = """Version:          VyOS 1.3.8
Release train:    equuleus

Built by:         autobuild@vyos.net
"""
V14 = "Version:          VyOS 1.4.3\nRelease train:    sagitta\n"
V15_STREAM = "Version:          VyOS 1.5-stream-2025-Q2\nRelease train:    circinus\n"
V15_ROLLING = "Version:          VyOS 1.5-rolling-202601090247\nRelease train:    current\n"
DATED = "Version:          VyOS 2025.02.10-0020-rolling\nRelease train:    circinus\n"
V11 = "Version:      VyOS 1.1.8\nDescription:  VyOS 1.1.8 (helium)\n"


@pytest.mark.parametrize(
    ("text", "version"),
    [(V13, "1.3"), (V14, "1.4"), (V15_STREAM, "1.5"), (V15_ROLLING, "1.5"), (DATED, "1.5")],
)
def test_versions(text: str, version: str) -> None:
    assert vyos_version(text) == version


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (V11, "VyOS 1.1 is not rendered"),
        ("Version:  VyOS 2025.02.10-0020-rolling\nRelease train: current\n", "pass --vyos"),
        ("% Invalid command\n", "not `show version` output"),
    ],
)
def test_unknown_versions_are_refused(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        vyos_version(text)
