"""Versioned backup storage: a local directory (default) or an S3 bucket with SSE-KMS.

A version is one sanitized config.boot text named `<UTC timestamp>-<sha256[:12]>`; names
sort by time, so the newest is the greatest. Each router keeps its newest `keep` versions.
Backups hold pre-shared keys: local files are 0600 in 0700 directories, S3 objects are
KMS-encrypted, and no content ever reaches a log line or an error message.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import structlog

from vpnwatch.adapters.aws import AwsApiError, AwsClient
from vpnwatch.atomicfile import TEMP_PREFIX, private_dir, write_atomic
from vpnwatch.errors import ParseError, TemporaryError, VpnwatchError

log = structlog.get_logger("vpnwatch.backup")

SUFFIX = ".boot"
MAX_BACKUP_BYTES = 16 * 1024 * 1024  # a VyOS config is kilobytes; more is not a config
_STAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"
_VERSION_RE = re.compile(r"^(?P<stamp>\d{8}T\d{6}\.\d{6}Z)-(?P<hash>[0-9a-f]{12})$")
_ROUTER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class BackupStoreError(TemporaryError):
    """The store could not be read or written (disk, permissions, S3)."""


class BackupStore(Protocol):
    """Where versions live. Versions are listed newest first."""

    kind: str  # "dir" | "s3"

    async def put(self, router: str, text: str, *, now: float | None = None) -> str:
        """Store `text` as a new version (unless the newest has the same content); its id."""
        ...

    async def latest(self, router: str) -> tuple[str, str] | None:
        """(text, version id) of the newest version, or None when there is none."""
        ...

    async def versions(self, router: str) -> tuple[str, ...]: ...

    async def get(self, router: str, version: str) -> str:
        """The text of one version; ParseError when it is not UTF-8 text."""
        ...

    def location(self, router: str, version: str) -> str: ...


# ---------------------------------------------------------------- version names


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _stamp(version: str) -> datetime | None:
    match = _VERSION_RE.match(version)
    if match is None:
        return None
    return datetime.strptime(match["stamp"], _STAMP_FORMAT).replace(tzinfo=UTC)


def version_time(version: str) -> float | None:
    """The epoch a version id was stamped with (None when it is not a version id)."""
    stamp = _stamp(version)
    return None if stamp is None else stamp.timestamp()


def new_version_id(text: str, now: float, newest: str | None) -> str:
    """`<UTC stamp>-<hash>`, stamped strictly after `newest` so names keep sorting by age
    even when the clock stands still or steps back."""
    stamp = datetime.fromtimestamp(now, UTC)
    floor = _stamp(newest) if newest else None
    if floor is not None and stamp <= floor:
        stamp = floor + timedelta(microseconds=1)
    return f"{stamp.strftime(_STAMP_FORMAT)}-{content_hash(text)}"


def is_version_id(name: str) -> bool:
    return _VERSION_RE.match(name) is not None


def check_router_name(router: str) -> str:
    """Router names become path and key components: refuse anything that could escape."""
    if not _ROUTER_RE.match(router) or router in (".", ".."):
        raise ValueError(f"router name {router!r} cannot be used in a backup path")
    return router


def _newest_first(names: list[str]) -> tuple[str, ...]:
    return tuple(sorted((n for n in names if is_version_id(n)), reverse=True))


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(f"{where}: not UTF-8 text") from None


# ---------------------------------------------------------------- local directory


class LocalStore:
    """`<directory>/<router>/<version>.boot`, written atomically, 0600 files, 0700 dirs."""

    kind = "dir"

    def __init__(
        self, directory: Path, keep: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.directory = Path(directory)
        self.keep = keep
        self._clock = clock

    def _router_dir(self, router: str) -> Path:
        return self.directory / check_router_name(router)

    def _path(self, router: str, version: str) -> Path:
        if not is_version_id(version):
            raise ValueError(f"{version!r} is not a backup version id")
        return self._router_dir(router) / f"{version}{SUFFIX}"

    def location(self, router: str, version: str) -> str:
        return str(self._path(router, version))

    async def versions(self, router: str) -> tuple[str, ...]:
        folder = self._router_dir(router)
        try:
            names = [p.name.removesuffix(SUFFIX) for p in folder.glob(f"*{SUFFIX}")]
        except OSError as exc:
            raise BackupStoreError(f"cannot list {folder}: {exc.strerror}") from None
        return _newest_first(names)

    async def get(self, router: str, version: str) -> str:
        path = self._path(router, version)
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_BACKUP_BYTES + 1)
        except OSError as exc:
            raise BackupStoreError(f"cannot read {path}: {exc.strerror}") from None
        if len(data) > MAX_BACKUP_BYTES:
            raise ParseError(f"{path}: larger than {MAX_BACKUP_BYTES} bytes")
        return _decode(data, str(path))

    async def latest(self, router: str) -> tuple[str, str] | None:
        versions = await self.versions(router)
        if not versions:
            return None
        return await self.get(router, versions[0]), versions[0]

    async def put(self, router: str, text: str, *, now: float | None = None) -> str:
        folder = self._router_dir(router)
        existing = await self.versions(router)
        if existing and existing[0].endswith("-" + content_hash(text)):
            return existing[0]  # same content as the newest: nothing new to keep
        version = new_version_id(
            text, self._clock() if now is None else now, next(iter(existing), None)
        )
        try:
            private_dir(self.directory)
            private_dir(folder)
            write_atomic(folder / f"{version}{SUFFIX}", text.encode("utf-8"))
        except OSError as exc:
            raise BackupStoreError(f"cannot write a backup into {folder}: {exc.strerror}") from None
        self._prune(folder, (version, *existing))
        return version

    def _prune(self, folder: Path, versions: tuple[str, ...]) -> None:
        """Drop versions beyond `keep` and temp files a crash left behind."""
        doomed = [folder / f"{v}{SUFFIX}" for v in sorted(versions, reverse=True)[self.keep :]]
        doomed += list(folder.glob(f"{TEMP_PREFIX}*"))
        for path in doomed:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:  # the new version is stored; pruning retries next time
                log.warning("backup.prune_failed", path=str(path), error=exc.strerror)


# ---------------------------------------------------------------- S3


class S3Store:
    """`s3://<bucket>/<prefix><router>/<version>.boot`, SSE-KMS, through the AWS adapter.

    Versioning is expected on the bucket (a deleted or overwritten backup stays recoverable);
    it is checked once and a warning logged when it is off.
    """

    kind = "s3"

    def __init__(
        self,
        aws: AwsClient,
        region: str,
        bucket: str,
        prefix: str,
        kms_key_id: str | None,
        keep: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self._aws = aws
        self.region = region
        self.bucket = bucket
        self.prefix = prefix
        self.kms_key_id = kms_key_id
        self.keep = keep
        self._clock = clock
        self._versioning_checked = False

    def _folder(self, router: str) -> str:
        return f"{self.prefix}{check_router_name(router)}/"

    def _key(self, router: str, version: str) -> str:
        if not is_version_id(version):
            raise ValueError(f"{version!r} is not a backup version id")
        return f"{self._folder(router)}{version}{SUFFIX}"

    def location(self, router: str, version: str) -> str:
        return f"s3://{self.bucket}/{self._key(router, version)}"

    async def _call(self, operation: str, **kwargs: Any) -> Any:
        return await self._aws.call("s3", self.region, operation, Bucket=self.bucket, **kwargs)

    async def check_versioning(self) -> str | None:
        """The bucket's versioning status (warns once when it is not Enabled)."""
        self._versioning_checked = True
        try:
            answer = await self._call("get_bucket_versioning")
        except VpnwatchError as exc:
            log.warning("backup.s3_versioning_unknown", bucket=self.bucket, error=str(exc))
            return None
        status = answer.get("Status")
        if status != "Enabled":
            log.warning(
                "backup.s3_versioning_off", bucket=self.bucket, status=status or "never enabled",
                hint="enable bucket versioning so pruned or overwritten backups stay recoverable",
            )  # fmt: skip
        return str(status) if status else None

    async def _checked(self) -> None:
        if not self._versioning_checked:
            await self.check_versioning()

    async def versions(self, router: str) -> tuple[str, ...]:
        await self._checked()
        folder = self._folder(router)
        names: list[str] = []
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = await self._call("list_objects_v2", Prefix=folder, **extra)
            for item in page.get("Contents", []):
                name = str(item.get("Key", ""))[len(folder) :]
                if name.endswith(SUFFIX) and "/" not in name:
                    names.append(name.removesuffix(SUFFIX))
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if not token:
                return _newest_first(names)

    async def get(self, router: str, version: str) -> str:
        key = self._key(router, version)
        answer = await self._call("get_object", Key=key)
        body = answer["Body"]
        try:  # the body streams from the socket: read it off the event loop
            data: bytes = await asyncio.to_thread(body.read, MAX_BACKUP_BYTES + 1)
        except Exception as exc:
            raise BackupStoreError(f"s3://{self.bucket}/{key}: read failed: {exc}") from None
        finally:
            body.close()
        if len(data) > MAX_BACKUP_BYTES:
            raise ParseError(f"s3://{self.bucket}/{key}: larger than {MAX_BACKUP_BYTES} bytes")
        return _decode(data, f"s3://{self.bucket}/{key}")

    async def latest(self, router: str) -> tuple[str, str] | None:
        versions = await self.versions(router)
        if not versions:
            return None
        return await self.get(router, versions[0]), versions[0]

    async def put(self, router: str, text: str, *, now: float | None = None) -> str:
        existing = await self.versions(router)
        if existing and existing[0].endswith("-" + content_hash(text)):
            return existing[0]
        version = new_version_id(
            text, self._clock() if now is None else now, next(iter(existing), None)
        )
        encryption: dict[str, str] = {"ServerSideEncryption": "aws:kms"}
        if self.kms_key_id:
            encryption["SSEKMSKeyId"] = self.kms_key_id
        await self._call(
            "put_object", Key=self._key(router, version), Body=text.encode("utf-8"),
            ContentType="text/plain; charset=utf-8", **encryption,
        )  # fmt: skip
        for old in sorted((version, *existing), reverse=True)[self.keep :]:
            try:
                await self._call("delete_object", Key=self._key(router, old))
            except (AwsApiError, TemporaryError) as exc:  # stored; pruning retries next time
                log.warning("backup.prune_failed", key=self._key(router, old), error=str(exc))
        return version
