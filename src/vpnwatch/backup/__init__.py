"""Config backups: pull `show configuration`, sanitize, store versioned, drift.

`BackupManager` pulls and keeps the restore cache; `LocalStore` / `S3Store` keep versions;
`vpnwatch backup` is `vpnwatch.commands.backup`.
"""

from vpnwatch.backup.manager import (
    SHOW_CONFIGURATION,
    BackupManager,
    BackupResult,
    BackupTarget,
    ConfigSource,
    ValidBackup,
)
from vpnwatch.backup.sanitize import (
    DEFAULT_STRIP_SECTIONS,
    BackupRejected,
    PreparedBackup,
    changed_sections,
    check_not_shrunk,
    prepare_backup,
)
from vpnwatch.backup.store import (
    BackupStore,
    BackupStoreError,
    LocalStore,
    S3Store,
    version_time,
)
from vpnwatch.backup.targets import backup_targets

__all__ = [
    "DEFAULT_STRIP_SECTIONS",
    "SHOW_CONFIGURATION",
    "BackupManager",
    "BackupRejected",
    "BackupResult",
    "BackupStore",
    "BackupStoreError",
    "BackupTarget",
    "ConfigSource",
    "LocalStore",
    "PreparedBackup",
    "S3Store",
    "ValidBackup",
    "backup_targets",
    "changed_sections",
    "check_not_shrunk",
    "prepare_backup",
    "version_time",
]
