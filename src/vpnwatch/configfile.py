"""Reading the configuration: one bounded YAML file plus `VPNWATCH_*` overrides → `Config`.

Every problem is reported at once, with its YAML path (and the variable it came from), as a
`ConfigError`; nothing here raises anything else. The file is read with a size cap and only
if it is a regular file (`validate-config /dev/zero` answers at once); duplicate keys are
refused rather than silently keeping the last one. Overrides are parsed by pydantic-settings:
`VPNWATCH_HEALTH__INTERVAL=10`, and JSON for lists and mappings
(`VPNWATCH_HEAL__LADDER='{"unreachable": ["replace"]}'`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import EnvSettingsSource, SettingsError
from pydantic_settings.sources.utils import parse_env_vars

from vpnwatch.config import Config
from vpnwatch.errors import ConfigError

ENV_PREFIX = "VPNWATCH_"
MAX_CONFIG_BYTES = 1024 * 1024  # a fleet of thousands of routers is well under this


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that names one key twice (PyYAML would keep
    the last value without a word: a typo'd override that silently wins)."""

    def duplicate_keys(self, node: yaml.Node) -> list[str]:
        problems: list[str] = []
        seen: set[int] = set()  # an alias points at a node already walked

        def walk(node: yaml.Node, path: str) -> None:
            if id(node) in seen:
                return
            seen.add(id(node))
            if isinstance(node, yaml.MappingNode):
                first: dict[str, int] = {}
                for key_node, value_node in node.value:
                    key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                    line = key_node.start_mark.line + 1
                    where = f"{path}.{key}" if path else key
                    if key in first and key != "<<":
                        problems.append(
                            f"{where}: duplicate key (line {first[key]} and line {line})"
                        )
                    first.setdefault(key, line)
                    walk(value_node, where)
            elif isinstance(node, yaml.SequenceNode):
                for i, item in enumerate(node.value):
                    walk(item, f"{path}[{i}]")

        walk(node, "")
        return problems


def _yaml_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _format_errors(error: ValidationError, from_env: Mapping[str, str]) -> list[str]:
    problems = []
    for item in error.errors():
        loc = tuple(p for p in item["loc"] if not str(p).startswith("function-"))
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling against config.example.yaml)"
        elif item["type"] == "missing":
            msg = "required key is missing"
        path = _yaml_path(loc)
        origin = next((var for p, var in from_env.items() if path.startswith(p)), None)
        problems.append(f"{path}: {msg}" + (f" (from {origin})" if origin else ""))
    return problems


class _Overrides(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (tests pass their own)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(
            Config,  # type: ignore[arg-type]  # a plain model: only its fields are read
            case_sensitive=False,
            env_prefix=ENV_PREFIX,
            env_nested_delimiter="__",
            env_parse_none_str="null",
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, False, False, "null")


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            yield from _leaves(value, path)
        else:
            yield path


def environment_overrides(
    environ: Mapping[str, str],
) -> tuple[dict[str, Any], dict[str, str]]:
    """(the overrides as a nested mapping, YAML path → the variable that set it)."""
    ours = {
        k: v
        for k, v in environ.items()
        if k.upper().startswith(ENV_PREFIX) and k != "VPNWATCH_CONFIG"
    }
    problems = []
    origin: dict[str, str] = {}
    for name in sorted(ours):
        section = name[len(ENV_PREFIX) :].split("__")[0].lower()
        if section not in Config.model_fields:
            problems.append(
                f"{name}: not a config key (sections: {', '.join(Config.model_fields)})"
            )
            continue
        try:
            one = _Overrides({name: ours[name]})()
        except SettingsError:
            problems.append(f"{name}: not valid JSON (lists and mappings are given as JSON)")
            continue
        for path in _leaves(one):
            origin[path] = name
    if problems:
        raise ConfigError(problems)
    known = {k: v for k, v in ours.items() if k in origin.values()}
    return _Overrides(known)(), origin


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def parse_config(
    text: str, *, source: str = "<config>", environ: Mapping[str, str] | None = None
) -> Config:
    loader = UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        duplicates = loader.duplicate_keys(node) if node is not None else []
        if duplicates:
            raise ConfigError([f"{source}: {p}" for p in duplicates])
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{source}: not valid YAML{where}"]) from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of keys"])
    overrides, origin = environment_overrides(os.environ if environ is None else environ)
    _merge(data, overrides)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origin)) from None


def read_config_text(file: Path) -> str:
    """The file's text, refusing what is not a small regular UTF-8 file."""
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError([f"{file}: not a regular file"])
        with file.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read the config file ({exc.strerror})"]) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{file}: larger than {MAX_CONFIG_BYTES // 1024} KiB: not a config"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{file}: the config file is not UTF-8 text"]) from None


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Config:
    file = Path(path)
    config = parse_config(read_config_text(file), source=str(file), environ=environ)
    return _resolve_paths(config, file.parent)


def _resolve_paths(config: Config, base: Path) -> Config:
    """Relative file paths in the config are relative to the config file's directory."""

    def fix(p: Path | None) -> Path | None:
        return None if p is None or p.is_absolute() else base / p

    def fixed(model: Any, *names: str) -> dict[str, Path]:
        return {n: v for n in names if (v := fix(getattr(model, n))) is not None}

    updates: dict[str, Any] = {}
    if ssh := fixed(config.ssh, "key_file", "known_hosts"):
        updates["ssh"] = config.ssh.model_copy(update=ssh)
    if heal := fixed(config.heal, "pause_file", "audit_file"):
        updates["heal"] = config.heal.model_copy(update=heal)
    if backup := fixed(config.backup, "directory"):
        updates["backup"] = config.backup.model_copy(update=backup)
    if state := fixed(config, "state_dir"):
        updates.update(state)
    return config.model_copy(update=updates) if updates else config
