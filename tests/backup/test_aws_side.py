"""S3Store and `vpnwatch backup` against the emulated AWS (moto over HTTP on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import itertools
import json
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from tests.backup.conftest import SimLab, assert_no_secrets
from vpnwatch.adapters.aws import AwsClient
from vpnwatch.backup import BackupManager, S3Store
from vpnwatch.commands.backup import run_backup
from vpnwatch.config import AwsConfig
from vpnwatch.lab.vyos_sim import TunnelSpec
from vpnwatch.lab.world import LabWorld

pytestmark = pytest.mark.timeout(120)

KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-backup-test"
NOW = 1_714_564_800.0
_buckets = itertools.count(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabWorld]:
    lab = LabWorld(tmp_path_factory.mktemp("backup-world"), detection_delay=0.5)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
async def aws(world: LabWorld) -> AsyncIterator[AwsClient]:
    client = AwsClient(
        AwsConfig(
            endpoint_url=world.endpoint_url,
            connect_timeout=1.0,
            read_timeout=3.0,
            max_attempts=2,
            retry_backoff=0.1,
            max_concurrency=4,
        )
    )
    try:
        yield client
    finally:
        client.close()


async def new_bucket(aws: AwsClient, region: str, *, versioning: bool) -> str:
    bucket = f"vpnwatch-backups-{next(_buckets)}"
    await aws.call("s3", region, "create_bucket", Bucket=bucket)
    if versioning:
        await aws.call(
            "s3", region, "put_bucket_versioning", Bucket=bucket,
            VersioningConfiguration={"Status": "Enabled"},
        )  # fmt: skip
    return bucket


def config_text(n: int) -> str:
    return f"protocols {{\n    static {{\n        route 10.{n}.0.0/16 {{\n        }}\n    }}\n}}\n"


# ---------------------------------------------------------------- S3Store


async def test_s3_store_keeps_n_versions_encrypted_with_kms(
    world: LabWorld, aws: AwsClient, logs: list[Any]
) -> None:
    region = world.region
    bucket = await new_bucket(aws, region, versioning=True)
    store = S3Store(aws, region, bucket, "vpnwatch/", KMS_KEY, keep=2)
    written = [await store.put("hub-r1", config_text(n), now=NOW + n) for n in range(4)]
    assert await store.versions("hub-r1") == (written[3], written[2])
    assert await store.latest("hub-r1") == (config_text(3), written[3])
    assert await store.get("hub-r1", written[2]) == config_text(2)
    assert store.location("hub-r1", written[3]) == (
        f"s3://{bucket}/vpnwatch/hub-r1/{written[3]}.boot"
    )
    for version in written[2:]:
        head = await aws.call(
            "s3", region, "head_object", Bucket=bucket, Key=f"vpnwatch/hub-r1/{version}.boot"
        )
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == KMS_KEY
    # pruned versions are deleted, but the bucket's versioning keeps them recoverable
    history = await aws.call("s3", region, "list_object_versions", Bucket=bucket)
    assert len(history.get("Versions", [])) == 4
    assert len(history.get("DeleteMarkers", [])) == 2
    # the same content again: no new object
    assert await store.put("hub-r1", config_text(3), now=NOW + 10) == written[3]
    history = await aws.call("s3", region, "list_object_versions", Bucket=bucket)
    assert len(history.get("Versions", [])) == 4
    assert await store.versions("spoke1-r1") == ()
    assert not [e for e in logs if e["event"].startswith("backup.s3_versioning")]


async def test_s3_store_warns_once_when_versioning_is_off(
    world: LabWorld, aws: AwsClient, logs: list[Any]
) -> None:
    bucket = await new_bucket(aws, world.region, versioning=False)
    store = S3Store(aws, world.region, bucket, "", None, keep=3)
    await store.put("r1", config_text(1), now=NOW)
    await store.put("r1", config_text(2), now=NOW + 1)
    warnings = [e for e in logs if e["event"] == "backup.s3_versioning_off"]
    assert len(warnings) == 1 and warnings[0]["bucket"] == bucket
    head = await aws.call("s3", world.region, "head_object", Bucket=bucket,
                          Key=f"r1/{(await store.versions('r1'))[0]}.boot")  # fmt: skip
    assert head["ServerSideEncryption"] == "aws:kms"  # the bucket's default KMS key


async def test_manager_with_s3_store_drift_and_reload(
    world: LabWorld, aws: AwsClient, sim_lab: SimLab, logs: list[Any]
) -> None:
    bucket = await new_bucket(aws, world.region, versioning=True)
    store = S3Store(aws, world.region, bucket, "site/", KMS_KEY, keep=5)
    await sim_lab.add("spoke1-r1")
    endpoint = sim_lab.endpoint("spoke1-r1")
    manager = BackupManager(store, sim_lab.client)
    first = await manager.pull("spoke1-r1", endpoint, now=NOW)
    again = await manager.pull("spoke1-r1", endpoint, now=NOW + 3600)
    assert first.ok and first.changed and first.location is not None
    assert first.location.startswith(f"s3://{bucket}/site/spoke1-r1/")
    assert again.ok and not again.changed and again.version == first.version
    restarted = BackupManager(store, sim_lab.client)
    await restarted.load(["spoke1-r1"])
    assert restarted.latest_valid_backup("spoke1-r1") == manager.latest_valid_backup("spoke1-r1")
    assert_no_secrets(sim_lab.psks, logs, first, again)


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # run_backup configured logging onto the captured stderr


async def start_site_routers(world: LabWorld, lab: SimLab, site: str) -> dict[str, int]:
    """Simulated routers for one site, listening on their EIPs (127.x in moto)."""
    ports = {}
    for router in (r for r in world.topology.routers if r.site == site):
        tunnels = [
            TunnelSpec.from_cidr(t.outside_ip, t.inside_cidr, t.psk)
            for c in world.topology.connections_of(router.name)
            for t in c.tunnels
        ]
        sim = await lab.add(
            router.name, host=router.public_ip, tunnels=tunnels, private_ip=router.private_ip
        )
        ports[router.name] = sim.port
    return ports


def write_config(
    world: LabWorld, lab: SimLab, ports: dict[str, int], *, extra_routers: dict[str, int],
    backup: dict[str, Any],
) -> Path:  # fmt: skip
    routers = [
        {"name": r.name, "instance_id": r.instance_id, "ssh_port": ports.get(r.name) or
         extra_routers[r.name]}
        for r in world.topology.routers
        if r.name in ports or r.name in extra_routers
    ]  # fmt: skip
    config = {
        "aws": {"region": world.region, "endpoint_url": world.endpoint_url,
                "connect_timeout": 1.0, "read_timeout": 3.0, "max_attempts": 2},
        "ssh": {"user": "vyos", "key_file": str(lab.key_file),
                "known_hosts": str(lab.known_hosts), "connect_timeout": 3.0,
                "command_timeout": 5.0},
        "sites": [{"name": "spoke1", "role": "spoke", "routers": routers[:2]}]
        + ([{"name": "spoke2", "role": "spoke", "routers": routers[2:]}] if routers[2:] else []),
        "health": {"interval": 30},
        "backup": backup,
        "state_dir": str(lab.tmp / "state"),
    }  # fmt: skip
    path = lab.tmp / "vpnwatch.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


async def cli(path: Path, router: str | None, as_json: bool = True) -> int:
    # in a thread: run_backup runs its own event loop while this one serves the routers
    return await asyncio.to_thread(run_backup, str(path), router, as_json)


@pytest.mark.usefixtures("reset_logging")
async def test_cli_backs_up_routers_found_by_their_eip(
    world: LabWorld, sim_lab: SimLab, capsys: pytest.CaptureFixture[str]
) -> None:
    ports = await start_site_routers(world, sim_lab, "spoke1")
    backups = sim_lab.tmp / "backups"
    path = write_config(world, sim_lab, ports, extra_routers={},
                        backup={"directory": str(backups), "keep": 3})  # fmt: skip

    assert await cli(path, None) == 0
    first = json.loads(capsys.readouterr().out)
    assert [e["router"] for e in first] == ["spoke1-r1", "spoke1-r2"]
    for entry in first:
        assert entry["changed"] is True and entry["error"] is None
        assert entry["sections_removed"] == ["interfaces ethernet eth0", "service", "system"]
        stored = Path(entry["location"])
        assert stored.parent == backups / entry["router"]
        assert stored.name == f"{entry['version']}.boot"
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700

    assert await cli(path, "spoke1-r2") == 0
    again = json.loads(capsys.readouterr().out)
    assert again == [{**first[1], "changed": False}]

    assert await cli(path, "spoke1-r1", as_json=False) == 0
    out = capsys.readouterr()
    assert out.out.startswith("spoke1-r1: unchanged ")
    assert_no_secrets(sim_lab.psks, out.out, out.err, first)


@pytest.mark.usefixtures("reset_logging")
async def test_cli_exit_codes_for_failures_and_config_errors(
    world: LabWorld, sim_lab: SimLab, capsys: pytest.CaptureFixture[str]
) -> None:
    ports = await start_site_routers(world, sim_lab, "spoke1")
    # spoke2's routers exist in AWS (their EIPs are found) but nothing answers SSH there
    silent = {r.name: ports["spoke1-r1"] for r in world.topology.routers if r.site == "spoke2"}
    path = write_config(world, sim_lab, ports, extra_routers=silent,
                        backup={"directory": str(sim_lab.tmp / "b"), "keep": 3})  # fmt: skip
    assert await cli(path, None) == 1
    results = {e["router"]: e for e in json.loads(capsys.readouterr().out)}
    assert set(results) == {"spoke1-r1", "spoke1-r2", "spoke2-r1", "spoke2-r2"}
    assert results["spoke1-r1"]["error"] is None and results["spoke1-r1"]["version"]
    for name in silent:
        assert results[name]["version"] is None and results[name]["error"]

    assert await cli(path, "no-such-router") == 2
    assert "no router named 'no-such-router'" in capsys.readouterr().err
    broken = sim_lab.tmp / "broken.yaml"
    broken.write_text("sites: [\n", encoding="utf-8")
    assert await cli(broken, None) == 2
    assert "not valid YAML" in capsys.readouterr().err


@pytest.mark.usefixtures("reset_logging")
async def test_cli_stores_into_s3_with_kms(
    world: LabWorld, aws: AwsClient, sim_lab: SimLab, capsys: pytest.CaptureFixture[str]
) -> None:
    ports = await start_site_routers(world, sim_lab, "spoke1")
    bucket = await new_bucket(aws, world.region, versioning=True)
    path = write_config(world, sim_lab, ports, extra_routers={}, backup={
        "store": "s3", "keep": 2,
        "s3": {"bucket": bucket, "prefix": "vpnwatch/", "kms_key_id": KMS_KEY},
    })  # fmt: skip
    assert await cli(path, "spoke1-r1") == 0
    [entry] = json.loads(capsys.readouterr().out)
    key = f"vpnwatch/spoke1-r1/{entry['version']}.boot"
    assert entry["location"] == f"s3://{bucket}/{key}"
    head = await aws.call("s3", world.region, "head_object", Bucket=bucket, Key=key)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KMS_KEY)
