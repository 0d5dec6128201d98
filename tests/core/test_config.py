from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vpnwatch.config import redacted
from vpnwatch.configfile import load_config, parse_config
from vpnwatch.errors import ConfigError

GOOD = """
aws: {region: us-east-1}
ssh: {key_file: ssh/id, known_hosts: ssh/known_hosts}
sites:
  - name: hub
    role: hub
    routers:
      - {name: hub-r1, instance_id: i-0123456789abcdef0}
      - {name: hub-r2, tags: {Name: hub-r2}}
"""


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ=environ or {})
    return info.value.problems


def test_good_config_parses_with_defaults() -> None:
    config = parse_config(GOOD, environ={})
    assert [r.name for r in config.sites[0].routers] == ["hub-r1", "hub-r2"]
    assert config.health.interval == 5.0
    assert config.regions == ("us-east-1",)


def test_every_error_is_reported_at_once_with_its_path() -> None:
    text = """
aws: {region: us-east-1, read_timout: 3}
ssh: {key_file: k, known_hosts: h, port: "twenty-two"}
sites:
  - name: hub
    role: middle
    routers:
      - {name: hub-r1}
health: {interval: fast}
"""
    found = problems(text)
    joined = "\n".join(found)
    assert "aws.read_timout: unknown key" in joined
    assert "ssh.port:" in joined
    assert "sites[0].role:" in joined
    assert "sites[0].routers[0]: give exactly one of instance_id or tags" in joined
    assert "health.interval:" in joined
    assert len(found) >= 5


def test_missing_keys_are_named() -> None:
    assert any(
        p.startswith("sites: required key is missing") for p in problems("ssh: {enabled: false}")
    )
    assert any(p.startswith("ssh: required key") for p in problems("sites: []"))


def test_retry_budget_must_fit_in_the_interval() -> None:
    text = GOOD.replace("aws: {region: us-east-1}", "aws: {read_timeout: 5, max_attempts: 3}")
    found = problems(text + "health: {interval: 2}\n")
    assert any("aws retries do not fit in the poll interval" in p for p in found), found


def test_ambiguous_and_empty_selectors_are_refused() -> None:
    text = GOOD.replace("tags: {Name: hub-r2}", "tags: {}")
    assert any("tags must be a non-empty map" in p for p in problems(text))
    text = GOOD.replace(
        "{name: hub-r2, tags: {Name: hub-r2}}",
        "{name: hub-r2, instance_id: i-0123456789abcdef1, tags: {a: b}}",
    )
    assert any("exactly one of instance_id or tags" in p for p in problems(text))


def test_duplicate_router_names() -> None:
    text = GOOD.replace("name: hub-r2", "name: hub-r1")
    assert any("router name 'hub-r1' is used twice" in p for p in problems(text))


def test_environment_overrides() -> None:
    config = parse_config(
        GOOD,
        environ={
            "VPNWATCH_HEALTH__INTERVAL": "20",
            "VPNWATCH_AWS__ENDPOINT_URL": "http://127.0.0.1:5000",
        },
    )
    assert config.health.interval == 20
    assert config.aws.endpoint_url == "http://127.0.0.1:5000"
    assert any(
        "health.interval" in p for p in problems(GOOD, {"VPNWATCH_HEALTH__INTERVAL": "soon"})
    )


def test_not_yaml_and_not_a_mapping() -> None:
    assert "not valid YAML at line" in problems("a: [b\n")[0]
    assert "top level must be a mapping" in problems("- a\n- b\n")[0]


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "vpnwatch.yaml"
    path.write_text(GOOD)
    config = load_config(path, environ={})
    assert config.ssh.key_file == tmp_path / "ssh/id"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "missing.yaml")


def test_redaction_masks_secrets_in_urls() -> None:
    config = parse_config(
        GOOD, environ={"VPNWATCH_AWS__ENDPOINT_URL": "http://user:hunter2@127.0.0.1:1"}
    )
    assert "hunter2" not in str(redacted(config))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vpnwatch", *args], capture_output=True, text=True, timeout=60
    )


def ssh_files(base: Path) -> None:
    """The key files GOOD names, as the machine checks want them (key 0600)."""
    (base / "ssh").mkdir(exist_ok=True)
    (base / "ssh/id").write_text("not checked here\n")
    (base / "ssh/id").chmod(0o600)
    (base / "ssh/known_hosts").write_text("")


def test_validate_config_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD + f"state_dir: {tmp_path / 'state'}\nmetrics: {{listen: 127.0.0.1:0}}\n")
    ssh_files(tmp_path)
    ok = run_cli("validate-config", str(good))
    assert ok.returncode == 0, ok.stderr
    assert "1 sites, 2 routers" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("role: hub", "role: hubb").replace("aws: {", "aws: {foo: 1, "))
    result = run_cli("validate-config", str(bad))
    assert result.returncode == 2
    assert "sites[0].role" in result.stderr and "aws.foo: unknown key" in result.stderr
    missing = run_cli("validate-config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_example_config_is_valid() -> None:
    example = Path(__file__).parents[2] / "config.example.yaml"
    config = load_config(example, environ={})
    assert config.sites


def _model_keys(model: type, prefix: str = "") -> set[str]:
    from pydantic import BaseModel

    keys = set()
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        keys.add(name)
        ann = field.annotation
        for candidate in (ann, *getattr(ann, "__args__", ())):
            inner = getattr(candidate, "__args__", None)
            for c in (candidate, *(inner or ())):
                if isinstance(c, type) and issubclass(c, BaseModel):
                    keys |= _model_keys(c)
    return keys


def test_example_config_documents_every_key() -> None:
    from vpnwatch.config import Config

    text = (Path(__file__).parents[2] / "config.example.yaml").read_text()
    missing = sorted(k for k in _model_keys(Config) if f"{k}:" not in text)
    assert missing == [], f"config.example.yaml does not document: {missing}"


def test_unimplemented_lock_backends_are_refused_clearly() -> None:
    found = problems(GOOD + "lock: {backend: kubernetes}\n")
    assert any("lock.backend: leader lock backend 'kubernetes' is not built" in p for p in found)
    assert parse_config(GOOD + "lock: {backend: none}\n", environ={}).lock.backend == "none"


def test_a_dynamodb_lock_needs_a_table_shared_backups_and_a_lease_that_fits() -> None:
    assert any(
        "lock.table is required" in p for p in problems(GOOD + "lock: {backend: dynamodb}\n")
    )
    shared = "backup: {directory: /shared/backups}\n"
    found = problems(GOOD + "lock: {backend: dynamodb, table: vpnwatch}\n")
    assert any("needs backups both hosts can read" in p for p in found)
    config = parse_config(
        GOOD + shared + "lock: {backend: dynamodb, table: vpnwatch}\n", environ={}
    )
    assert (config.lock.lease_seconds, config.lock.renew_interval) == (15.0, 5.0)
    # aws budget 2 x (1.0 + 1.2) + 0.3 = 4.7 s: 2 + 4.7 + 0.6 > 6
    found = problems(
        GOOD + shared + "lock: {backend: dynamodb, table: vpnwatch, lease_seconds: 6}\n"
    )
    assert any(
        "lock.lease_seconds 6 is too short: renew interval 2 s + an AWS mutation (aws timeouts)"
        " 4.7 s + margin 0.6 s = 7.3 s" in p
        for p in found
    ), found
    slow = "lock: {backend: dynamodb, table: vpnwatch, lease_seconds: 9, read_timeout: 3}\n"
    found = problems(GOOD + shared + slow)
    assert any("a lease renewal (lock timeouts) 7.3 s" in p for p in found), found
    assert not any("AWS mutation" in p for p in found)
