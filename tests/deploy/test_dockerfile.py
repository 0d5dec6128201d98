"""Dockerfile (parsed by BuildKit's own parser via the `dockerfile` package) and
.dockerignore: slim base, non-root, `pip install .`, ENTRYPOINT vpnwatch run."""

from __future__ import annotations

import fnmatch

import pytest

from tests.deploy.common import REPO

dockerfile = pytest.importorskip("dockerfile", reason="the dockerfile parser is not installed")


def stages() -> list[list[object]]:
    commands = dockerfile.parse_file(str(REPO / "Dockerfile"))
    out: list[list[object]] = []
    for command in commands:
        if command.cmd == "FROM":
            out.append([])
        if out:
            out[-1].append(command)
    return out


def test_image_layout() -> None:
    build, final = stages()
    args = dict(
        c.value[0].split("=", 1)
        for c in dockerfile.parse_file(str(REPO / "Dockerfile"))
        if c.cmd == "ARG"
    )
    assert "-slim" in args["PYTHON_IMAGE"]
    assert [c.value[0] for c in (build[0], final[0])] == ["${PYTHON_IMAGE}"] * 2
    runs = " ".join(c.value[0] for c in build if c.cmd == "RUN")
    assert "pip install ." in runs
    final_cmds = {c.cmd: c for c in final}
    user = final_cmds["USER"].value[0].split(":")[0]
    assert user not in ("root", "0") and user.isdigit()
    assert final_cmds["ENTRYPOINT"].json and final_cmds["ENTRYPOINT"].value == ("vpnwatch", "run")
    copies = [c for c in final if c.cmd == "COPY"]
    assert [c.flags for c in copies] == [("--from=build",)], "the final stage copies only the venv"
    assert not [c for c in final + build if c.cmd == "ADD"]


def test_dockerignore_keeps_what_pip_install_needs() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            body = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
                keep = negate
        return keep

    for needed in ("pyproject.toml", "README.md", "src/vpnwatch/cli.py"):
        assert included(needed), needed
    for excluded in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "deploy/iam/policy.json",
    ):
        assert not included(excluded), excluded
