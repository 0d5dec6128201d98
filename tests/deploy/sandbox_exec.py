"""Run a command under the unit's seccomp filter and MemoryDenyWriteExecute, then exec it.

Run by Debian's /usr/bin/python3 (it has the libseccomp bindings, python3-seccomp):
    python3 sandbox_exec.py SPEC.json -- COMMAND...
SPEC.json: {"allow": [syscalls], "families": [socket families], "errno": int}.
systemd builds the same kinds of filters from SystemCallFilter=, RestrictAddressFamilies=
and MemoryDenyWriteExecute= (the latter here via the kernel's PR_SET_MDWE, which survives
execve); both are inherited by the command.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import sys

import seccomp  # type: ignore[import-not-found]

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def main(argv: list[str]) -> None:
    spec_path, sep, *command = argv
    if sep != "--" or not command:
        raise SystemExit("usage: sandbox_exec.py SPEC.json -- COMMAND...")
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise SystemExit(f"PR_SET_MDWE failed: {os.strerror(ctypes.get_errno())}")
    filt = seccomp.SyscallFilter(defaction=seccomp.ERRNO(spec["errno"]))
    for name in spec["allow"]:
        if name == "socket":
            continue
        # Names of other architectures' system calls are not known here: skip them.
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            filt.add_rule(seccomp.ALLOW, name)
    # RestrictAddressFamilies=: socket() only for the listed families.
    if "socket" in spec["allow"]:
        for family in spec["families"]:
            filt.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, family))
        # systemd answers other families with EAFNOSUPPORT (AF_MAX is below 64).
        refused = seccomp.ERRNO(errno.EAFNOSUPPORT)
        for family in range(64):
            if family not in spec["families"]:
                filt.add_rule(refused, "socket", seccomp.Arg(0, seccomp.EQ, family))
        filt.add_rule(refused, "socket", seccomp.Arg(0, seccomp.GE, 64))
    filt.load()  # also sets no_new_privs, like NoNewPrivileges=yes
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
