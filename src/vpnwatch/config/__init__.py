"""What a valid configuration is: frozen pydantic models, every problem reported with its path.

Reading the YAML file and the `VPNWATCH_*` overrides is `configfile.py`; what `run` needs
from the machine (state directory, listen address, key files) is `startup_checks.py`. The
`heal` section's models are in `config/heal.py`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator

from vpnwatch.config.base import Strict as _Strict
from vpnwatch.config.heal import HealConfig as HealConfig
from vpnwatch.maintenance_config import MaintenanceConfig
from vpnwatch.redaction import redact_data

_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_REGION = r"^[a-z]{2}(-[a-z]+)+-\d$"


class AwsConfig(_Strict):
    region: str = Field("us-east-1", pattern=_REGION)
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
    config_timeout: float = Field(120.0, gt=0)  # a commit or an upload can take long
    keepalive_interval: float = Field(10.0, gt=0)
    keepalive_count_max: int = Field(3, ge=1)
    reconnect_backoff_initial: float = Field(1.0, ge=0)
    reconnect_backoff_max: float = Field(30.0, ge=0)
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


def _ipv4_network(value: str) -> str:
    try:
        return str(ipaddress.IPv4Network(value, strict=True))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 network such as 10.1.0.0/16") from None


class SiteVpn(_Strict):
    """The site's routing intent for `vpnwatch render` (the article's policies)."""

    vpc_cidr: str  # the VPC: static route to its router; what a spoke advertises
    aggregate: str | None = None  # hub only: what it advertises to the spokes (10.0.0.0/8)
    bgp_asn: int | None = Field(None, ge=1, le=4294967294)  # default: the customer gateway's

    @field_validator("vpc_cidr", "aggregate")
    @classmethod
    def _network(cls, value: str | None) -> str | None:
        return None if value is None else _ipv4_network(value)

    @model_validator(mode="after")
    def _aggregate_covers_vpc(self) -> Self:
        if self.aggregate is not None and not ipaddress.IPv4Network(self.vpc_cidr).subnet_of(
            ipaddress.IPv4Network(self.aggregate)
        ):
            raise ValueError("aggregate must contain the site's own vpc_cidr")
        return self


class SiteConfig(_Strict):
    name: str = Field(pattern=_NAME)
    role: Literal["hub", "spoke"]
    region: str | None = Field(None, pattern=_REGION)
    expect: SiteExpect = SiteExpect()
    routers: list[RouterEntry] = Field(min_length=1, max_length=2)
    vpn: SiteVpn | None = None


class HealthConfig(_Strict):
    interval: float = Field(5.0, ge=0.5, le=3600)
    failures: int = Field(3, ge=1, le=100)
    min_failed_seconds: float = Field(10.0, ge=0)
    flap_window_seconds: float = Field(900.0, gt=0)


class S3BackupConfig(_Strict):
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = "vpnwatch/"
    kms_key_id: str | None = None  # SSE-KMS key id or ARN; None = the bucket's default
    region: str | None = Field(None, pattern=_REGION)


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


class LockConfig(_Strict):
    """Who may act. `none`: one host; processes sharing a state directory elect a leader
    through a file lock (statestore/lease.py). `dynamodb`: an active/standby pair on two
    hosts shares its state and a lease in one DynamoDB table (statestore/dynamo*.py)."""

    backend: Literal["none", "dynamodb", "kubernetes"] = "none"
    table: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{3,255}$")
    region: str | None = Field(None, pattern=_REGION)  # default: aws.region
    lease_seconds: float = Field(15.0, ge=1.5, le=600)
    holder: str | None = Field(None, min_length=1, max_length=200)  # default: "HOST pid N"
    # DynamoDB answers in milliseconds: its calls get their own, tighter, timeouts.
    connect_timeout: float = Field(0.5, gt=0)
    read_timeout: float = Field(1.0, gt=0)
    max_attempts: int = Field(2, ge=1, le=10)

    @field_validator("backend")
    @classmethod
    def _built_backends(cls, value: str) -> str:
        if value == "kubernetes":
            raise ValueError(
                "leader lock backend 'kubernetes' is not built: use dynamodb (it serves "
                "Kubernetes too, through IRSA; see docs/deploy.md)"
            )
        return value

    @model_validator(mode="after")
    def _table_for_dynamodb(self) -> Self:
        if self.backend == "dynamodb" and not self.table:
            raise ValueError("lock.table is required when lock.backend is dynamodb")
        return self

    @property
    def renew_interval(self) -> float:
        return self.lease_seconds / 3

    @property
    def safety_margin(self) -> float:
        """How long before its lease could end anywhere a leader stops counting itself one:
        clock rate differences and a mutation already on the wire."""
        return max(0.25, self.lease_seconds / 10)

    def call_budget_seconds(self, retry_backoff: float) -> float:
        attempts = self.max_attempts
        return (
            attempts * (self.connect_timeout + self.read_timeout) + (attempts - 1) * retry_backoff
        )


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
    maintenance: MaintenanceConfig = MaintenanceConfig()
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
        instance_owner: dict[str, str] = {}
        for site in self.sites:
            if site.name in seen_sites:
                problems.append(f"site name {site.name!r} is used twice")
            seen_sites.add(site.name)
            for router in site.routers:
                if router.name in seen_routers:
                    problems.append(f"router name {router.name!r} is used twice")
                seen_routers.add(router.name)
                if router.instance_id is not None:
                    owner = instance_owner.setdefault(router.instance_id, router.name)
                    if owner != router.name:
                        problems.append(
                            f"instance {router.instance_id} is given to both {owner} and "
                            f"{router.name}"
                        )
        problems += _vpn_problems(self.sites)
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
        problems += _lock_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def region_of(self, site: SiteConfig) -> str:
        return site.region or self.aws.region

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({self.region_of(s) for s in self.sites}))


def _vpn_problems(sites: list[SiteConfig]) -> list[str]:
    """The hub advertises an aggregate, spokes their VPC; VPCs must not overlap."""
    problems = []
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for site in sites:
        if site.vpn is None:
            continue
        if site.role == "hub" and site.vpn.aggregate is None:
            problems.append(f"site {site.name!r}: a hub needs vpn.aggregate (what it advertises)")
        if site.role == "spoke" and site.vpn.aggregate is not None:
            problems.append(f"site {site.name!r}: only a hub advertises an aggregate")
        net = ipaddress.IPv4Network(site.vpn.vpc_cidr)
        for other, other_net in seen:
            if net.overlaps(other_net):
                problems.append(f"sites {other!r} and {site.name!r}: vpn.vpc_cidr overlap")
        seen.append((site.name, net))
    return problems


def _lock_problems(config: Config) -> list[str]:
    """A leader must renew, and still have time for one AWS mutation, before its lease
    could have expired anywhere: renew interval (lease/3) + the longest call (a lease
    renewal, or an AWS mutation, with every retry) + the safety margin <= lease."""
    lock = config.lock
    if lock.backend != "dynamodb":
        return []
    problems = []
    store_budget = lock.call_budget_seconds(config.aws.retry_backoff)
    for what, budget in (
        ("a lease renewal (lock timeouts)", store_budget),
        ("an AWS mutation (aws timeouts)", config.aws.call_budget_seconds),
    ):
        need = lock.renew_interval + budget + lock.safety_margin
        if need > lock.lease_seconds:
            problems.append(
                f"lock.lease_seconds {lock.lease_seconds:g} is too short: renew interval "
                f"{lock.renew_interval:g} s + {what} {budget:g} s + margin "
                f"{lock.safety_margin:g} s = {need:g} s"
            )
    if config.backup.enabled and config.backup.store == "dir" and config.backup.directory is None:
        problems.append(
            "lock.backend dynamodb needs backups both hosts can read: backup.store s3, or a "
            "shared backup.directory (a standby that takes over restores from them)"
        )
    return problems


def redacted(config: Config) -> dict[str, Any]:
    """The effective config for the start-up log: file paths only, secrets masked."""
    cleaned: dict[str, Any] = redact_data(config.model_dump(mode="json"))
    return cleaned


def is_loopback_url(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
