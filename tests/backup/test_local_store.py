"""LocalStore: versioned files, newest N kept, 0600 files in 0700 directories, atomic."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from vpnwatch.backup.store import (
    BackupStoreError,
    LocalStore,
    content_hash,
    is_version_id,
    version_time,
)


def config_text(n: int) -> str:
    return f"protocols {{\n    static {{\n        route 10.{n}.0.0/16 {{\n        }}\n    }}\n}}\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_keeps_the_newest_n_versions_with_private_modes(tmp_path: Path) -> None:
    base = tmp_path / "state" / "backups"
    store = LocalStore(base, keep=3)
    written = [await store.put("hub-r1", config_text(n), now=1_700_000_000 + n) for n in range(5)]
    assert len(set(written)) == 5
    versions = await store.versions("hub-r1")
    assert versions == tuple(reversed(written[-3:]))  # newest first, the two oldest pruned
    files = sorted((base / "hub-r1").iterdir())
    assert [f.name for f in files] == [f"{v}.boot" for v in sorted(written[-3:])]
    assert all(mode(f) == 0o600 for f in files)
    assert mode(base) == 0o700
    assert mode(base / "hub-r1") == 0o700
    text, version = await store.latest("hub-r1") or ("", "")
    assert (text, version) == (config_text(4), written[-1])
    assert await store.get("hub-r1", written[2]) == config_text(2)
    assert store.location("hub-r1", version) == str(base / "hub-r1" / f"{version}.boot")


async def test_version_ids_carry_time_and_hash(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, keep=5)
    version = await store.put("r1", config_text(1), now=1_714_564_800.25)
    assert version == f"20240501T120000.250000Z-{content_hash(config_text(1))}"
    assert is_version_id(version)
    assert version_time(version) == pytest.approx(1_714_564_800.25)


async def test_same_content_writes_no_new_version(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, keep=5)
    first = await store.put("r1", config_text(1), now=100.0)
    again = await store.put("r1", config_text(1), now=200.0)
    assert again == first
    assert await store.versions("r1") == (first,)


async def test_a_clock_that_stands_still_or_steps_back_keeps_the_order(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, keep=10)
    written = [await store.put("r1", config_text(n), now=500.0 - n) for n in range(4)]
    assert await store.versions("r1") == tuple(reversed(written))
    assert (await store.latest("r1") or ("", ""))[0] == config_text(3)


async def test_routers_are_kept_apart_and_names_cannot_escape(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "b", keep=2)
    await store.put("r1", config_text(1), now=1.0)
    assert await store.versions("r2") == ()
    assert await store.latest("r2") is None
    for bad in ("../escape", "a/b", "", ".."):
        with pytest.raises(ValueError):
            await store.put(bad, config_text(1), now=1.0)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["r1"]


async def test_atomic_write_leaves_no_temp_files_and_cleans_stale_ones(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, keep=2)
    await store.put("r1", config_text(1), now=1.0)
    stale = tmp_path / "r1" / ".tmp-crashed"  # what a crash between write and rename leaves
    stale.write_text("partial")
    await store.put("r1", config_text(2), now=2.0)
    names = sorted(p.name for p in (tmp_path / "r1").iterdir())
    assert len(names) == 2
    assert all(name.endswith(".boot") and not name.startswith(".") for name in names)


async def test_loose_existing_directory_is_tightened(tmp_path: Path) -> None:
    base = tmp_path / "backups"
    base.mkdir(mode=0o755)
    base.chmod(0o755)
    await LocalStore(base, keep=1).put("r1", config_text(1), now=1.0)
    assert mode(base) == 0o700


async def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    with pytest.raises(BackupStoreError, match="cannot"):
        await LocalStore(blocker, keep=1).put("r1", config_text(1), now=1.0)
