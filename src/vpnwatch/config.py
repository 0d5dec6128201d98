"""The configuration: one YAML file validated into frozen models (DESIGN §9).

Every problem is reported at once with its YAML path; `VPNWATCH_*` environment variables
override single keys (`VPNWATCH_HEALTH__INTERVAL=10`, `VPNWATCH_AWS__ENDPOINT_URL=...`).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vpnwatch.errors import ConfigError

ENV_PREFIX = "VPNWATCH_"
_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AwsConfig(_Strict):
    region: str = Field("us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    endpoint_url: str | None = None
    connect_timeout: float = Field(1.0, gt=0)
    read_timeout: float = Field(1.2, gt=0)
    max_attempts: int = Field(2, ge=1, le=10)
    retry_backoff: float = Field(0.3, ge=0)
    max_concurrency: int = Field(8, ge=1, le=64)

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:5000")
        return value

    @property
    def call_budget_seconds(self) -> float:
        """Worst-case time one API call may take with every retry."""
        attempts = self.max_attempts
        return (
            attempts * (self.connect_timeout + self.read_timeout)
            + (attempts - 1) * self.retry_backoff
        )


class ManagedTag(_Strict):
    key: str = Field("vpnwatch:managed", min_length=1)
    value: str = Field("true", min_length=1)


class SshConfig(_Strict):
    enabled: bool = True
    user: str = Field("vyos", min_length=1)
    key_file: Path | None = None
    known_hosts: Path | None = None
    port: int = Field(22, ge=1, le=65535)
    connect_timeout: float = Field(2.0, gt=0)
    command_timeout: float = Field(2.5, gt=0)
    keepalive_interval: float = Field(10.0, gt=0)
    max_concurrency: int = Field(64, ge=1, le=4096)
    max_output_bytes: int = Field(1_048_576, ge=4096)

    @model_validator(mode="after")
    def _files_when_enabled(self) -> Self:
        if self.enabled and (self.key_file is None or self.known_hosts is None):
            raise ValueError(
                "ssh.key_file and ssh.known_hosts are required when ssh.enabled is true "
                "(host keys are always verified)"
            )
        return self


class RouterEntry(_Strict):
    name: str = Field(pattern=_NAME)
    instance_id: str | None = Field(None, pattern=r"^i-[0-9a-f]{8,17}$")
    tags: dict[str, str] | None = None
    ssh_host: str | None = None
    ssh_port: int | None = Field(None, ge=1, le=65535)

    @model_validator(mode="after")
    def _one_selector(self) -> Self:
        if (self.instance_id is None) == (self.tags is None):
            raise ValueError("give exactly one of instance_id or tags")
        if self.tags is not None and (
            not self.tags or any(not k or not v for k, v in self.tags.items())
        ):
            raise ValueError("tags must be a non-empty map of non-empty keys and values")
        return self


class SiteExpect(_Strict):
    min_prefixes: int = Field(1, ge=0)


class SiteConfig(_Strict):
    name: str = Field(pattern=_NAME)
    role: Literal["hub", "spoke"]
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    expect: SiteExpect = SiteExpect()
    routers: list[RouterEntry] = Field(min_length=1, max_length=2)


class HealthConfig(_Strict):
    interval: float = Field(5.0, ge=0.5, le=3600)
    failures: int = Field(3, ge=1, le=100)
    min_failed_seconds: float = Field(10.0, ge=0)
    flap_window_seconds: float = Field(900.0, gt=0)


class S3BackupConfig(_Strict):
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = "vpnwatch/"
    kms_key_id: str | None = None  # SSE-KMS key id or ARN; None = the bucket's default
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")


class BackupConfig(_Strict):
    enabled: bool = True
    interval: float = Field(3600.0, ge=60)
    store: Literal["dir", "s3"] = "dir"
    directory: Path | None = None  # default: <state_dir>/backups
    keep: int = Field(30, ge=1, le=10_000)
    strip_sections: list[str] = Field(
        default_factory=lambda: ["interfaces ethernet eth0", "service", "system"]
    )
    s3: S3BackupConfig | None = None

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> Self:
        if self.store == "s3" and self.s3 is None:
            raise ValueError(
                "backup.store is s3 but backup.s3 (bucket, prefix, kms_key_id) is missing"
            )
        return self


class BreakerConfig(_Strict):
    max_replacements_per_router_per_day: int = Field(2, ge=1)
    max_replacements_per_fleet_per_hour: int = Field(2, ge=1)
    max_flaps: int = Field(5, ge=1)


class HealTimeouts(_Strict):
    terminate: float = Field(600.0, gt=0)
    launch: float = Field(300.0, gt=0)
    ssh: float = Field(600.0, gt=0)
    console: float = Field(600.0, gt=0)
    verify: float = Field(300.0, gt=0)
    poll: float = Field(2.0, gt=0)
    running: float = Field(300.0, gt=0)
    api: float = Field(120.0, gt=0)
    restore: float = Field(300.0, gt=0)


class HealAwsConfig(_Strict):
    """The heals' own AWS client (mutations), apart from the poll budget."""

    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    max_attempts: int = Field(5, ge=1, le=20)
    retry_backoff: float = Field(1.0, ge=0)
    retry_max_backoff: float = Field(20.0, ge=0)


_ACTION = Literal["reset-bgp", "restart-vpn", "reboot", "stop-start", "replace"]
_KIND = Literal["bgp-ipsec-down", "unreachable"]


def _default_ladder() -> dict[_KIND, list[_ACTION]]:
    return {
        "bgp-ipsec-down": ["reset-bgp", "restart-vpn", "reboot", "replace"],
        "unreachable": ["reboot", "stop-start", "replace"],
    }


class VerifyWindows(_Strict):
    """Seconds to wait after each action before escalating: a VyOS reboot plus IKE and BGP
    coming back takes minutes, and escalating early would replace a recovering router."""

    reset_bgp: float = Field(60.0, ge=0)
    restart_vpn: float = Field(90.0, ge=0)
    reboot: float = Field(300.0, ge=0)
    stop_start: float = Field(300.0, ge=0)
    replace: float = Field(120.0, ge=0)

    def for_action(self, action: str) -> float:
        value: float = getattr(self, action.replace("-", "_"))
        return value


class HealConfig(_Strict):
    enabled: bool = True
    dry_run: bool = True  # start safe: log "would have ..." until an operator turns it off
    paused: bool = False
    pause_file: Path | None = None  # default: <state_dir>/PAUSE; present = paused
    strategy: Literal["same-ip", "eni"] = "same-ip"
    ladder: dict[_KIND, list[_ACTION]] = Field(default_factory=_default_ladder)
    verify_windows: VerifyWindows = VerifyWindows()
    cooldown: float = Field(600.0, ge=0)
    max_concurrent_heals: int = Field(1, ge=1)
    breaker: BreakerConfig = BreakerConfig()
    timeouts: HealTimeouts = HealTimeouts()
    aws: HealAwsConfig = HealAwsConfig()
    ami: dict[str, str] = Field(default_factory=dict)  # router → AMI to relaunch it from
    audit_file: Path | None = None  # default: <state_dir>/audit.jsonl

    @field_validator("ladder")
    @classmethod
    def _ladder_escalates(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        order = ["reset-bgp", "restart-vpn", "reboot", "stop-start", "replace"]
        for kind, steps in value.items():
            idx = [order.index(s) for s in steps]
            if idx != sorted(set(idx)):
                raise ValueError(
                    f"ladder {kind}: steps must escalate without repeats "
                    f"(order: {', '.join(order)})"
                )
        return value

    @field_validator("ami")
    @classmethod
    def _ami_ids(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(r for r, a in value.items() if not re.fullmatch(r"ami-[0-9a-f]{8,17}", a))
        if bad:
            raise ValueError(f"not an AMI id (ami-...) for router(s): {', '.join(bad)}")
        return value


class LockConfig(_Strict):
    # DESIGN §4 "leader only": every mutating step already consults a leader hook, which is
    # always true with `none`. The shared backends are not built yet: refuse them clearly
    # rather than run two replicas that both believe they lead.
    backend: Literal["none", "dynamodb", "kubernetes"] = "none"

    @field_validator("backend")
    @classmethod
    def _only_none_for_now(cls, value: str) -> str:
        if value != "none":
            raise ValueError(
                f"leader lock backend {value!r} is not implemented in this version: "
                "run a single replica with backend none"
            )
        return value


class MetricsConfig(_Strict):
    listen: str = "127.0.0.1:9810"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9810 or 0.0.0.0:9810")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class LoggingConfig(_Strict):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class Config(_Strict):
    aws: AwsConfig = AwsConfig()
    managed_tag: ManagedTag = ManagedTag()
    ssh: SshConfig
    sites: list[SiteConfig] = Field(min_length=1)
    health: HealthConfig = HealthConfig()
    heal: HealConfig = HealConfig()
    backup: BackupConfig = BackupConfig()
    lock: LockConfig = LockConfig()
    metrics: MetricsConfig = MetricsConfig()
    logging: LoggingConfig = LoggingConfig()
    state_dir: Path = Path("/var/lib/vpnwatch")

    @property
    def backup_dir(self) -> Path:
        return self.backup.directory or self.state_dir / "backups"

    @property
    def pause_file(self) -> Path:
        return self.heal.pause_file or self.state_dir / "PAUSE"

    @property
    def audit_file(self) -> Path:
        return self.heal.audit_file or self.state_dir / "audit.jsonl"

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        problems: list[str] = []
        seen_sites: set[str] = set()
        seen_routers: set[str] = set()
        for site in self.sites:
            if site.name in seen_sites:
                problems.append(f"site name {site.name!r} is used twice")
            seen_sites.add(site.name)
            for router in site.routers:
                if router.name in seen_routers:
                    problems.append(f"router name {router.name!r} is used twice")
                seen_routers.add(router.name)
        unknown = sorted(set(self.heal.ami) - seen_routers)
        if unknown:
            problems.append(f"heal.ami names routers that are not configured: {', '.join(unknown)}")
        budget = self.aws.call_budget_seconds
        if budget > self.health.interval:
            problems.append(
                "aws retries do not fit in the poll interval: max_attempts x (connect_timeout"
                f" + read_timeout) + backoff = {budget:g} s > health.interval"
                f" {self.health.interval:g} s"
            )
        ssh_budget = self.ssh.connect_timeout + self.ssh.command_timeout
        if self.ssh.enabled and ssh_budget > self.health.interval:
            problems.append(
                f"ssh timeouts do not fit in the poll interval: connect_timeout + command_timeout "
                f"= {ssh_budget:g} s > health.interval {self.health.interval:g} s"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def region_of(self, site: SiteConfig) -> str:
        return site.region or self.aws.region

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({self.region_of(s) for s in self.sites}))


# ---------------------------------------------------------------- loading


def _yaml_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _format_errors(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        loc = tuple(p for p in item["loc"] if not str(p).startswith("function-"))
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling against config.example.yaml)"
        elif item["type"] == "missing":
            msg = "required key is missing"
        problems.append(f"{_yaml_path(loc)}: {msg}")
    return problems


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Apply VPNWATCH_A__B=value overrides in place; returns the keys it set."""
    applied = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        node = data
        for key in path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        node[path[-1]] = yaml.safe_load(raw) if raw.strip() else None
        applied.append(".".join(path))
    return applied


def parse_config(
    text: str, *, source: str = "<config>", environ: Mapping[str, str] | None = None
) -> Config:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{source}: not valid YAML{where}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of keys"])
    _apply_env(data, os.environ if environ is None else environ)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from None


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Config:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read the config file ({exc.strerror})"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{file}: the config file is not UTF-8 text"]) from None
    config = parse_config(text, source=str(file), environ=environ)
    base = file.parent
    return _resolve_paths(config, base)


def _resolve_paths(config: Config, base: Path) -> Config:
    """Relative file paths in the config are relative to the config file's directory."""

    def fix(p: Path | None) -> Path | None:
        return None if p is None or p.is_absolute() else base / p

    ssh_updates = {
        k: v
        for k, v in (
            ("key_file", fix(config.ssh.key_file)),
            ("known_hosts", fix(config.ssh.known_hosts)),
        )
        if v is not None
    }
    updates: dict[str, Any] = {}
    if ssh_updates:
        updates["ssh"] = config.ssh.model_copy(update=ssh_updates)
    state = fix(config.state_dir)
    if state is not None:
        updates["state_dir"] = state
    heal_updates = {
        k: v
        for k, v in (
            ("pause_file", fix(config.heal.pause_file)),
            ("audit_file", fix(config.heal.audit_file)),
        )
        if v is not None
    }
    if heal_updates:
        updates["heal"] = config.heal.model_copy(update=heal_updates)
    backup_dir = fix(config.backup.directory)
    if backup_dir is not None:
        updates["backup"] = config.backup.model_copy(update={"directory": backup_dir})
    return config.model_copy(update=updates) if updates else config


_SECRET_KEY = re.compile(r"(secret|password|token|psk|pre_shared|private)", re.IGNORECASE)


def redacted(config: Config) -> dict[str, Any]:
    """The effective config for the start-up log: file paths only, secrets masked."""
    data: dict[str, Any] = config.model_dump(mode="json")

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: "***" if _SECRET_KEY.search(k) else walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    cleaned: dict[str, Any] = walk(data)
    url = config.aws.endpoint_url
    if url and "@" in url:  # credentials in a URL
        cleaned["aws"]["endpoint_url"] = re.sub(r"//[^@]*@", "//***@", url)
    return cleaned


def is_loopback_url(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
