"""Safety state that must survive a restart (and, later, a failover): one interface
(`api.StateStore`, `api.Lease`), one backend today (`files.FileStateStore`, `lease.FileLease`).
"""
