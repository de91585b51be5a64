"""Folders radbench will write to, checked before any work starts: an output that is a file
or lies below one, a read-only folder or file system, a full disk. Each becomes one line
(ConfigError, exit 2) naming the folder, instead of a traceback after the data check and the
image cache were built."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from radbench.errors import ConfigError

#: errno values of a write that failed because of the file system, not of radbench
FILESYSTEM_ERRNOS = {errno.ENOSPC: "no space left on the device",
                     errno.EDQUOT: "disk quota exceeded",
                     errno.EROFS: "read-only file system",
                     errno.EACCES: "permission denied",
                     errno.EPERM: "operation not permitted"}


#: errno values of a path that cannot be used as given (bad input: exit 2)
PATH_ERRNOS = {errno.ENAMETOOLONG: "a name in this path is too long for the file system",
               errno.ENOTDIR: "a part of this path is a file, not a folder",
               errno.EISDIR: "is a folder where a file was expected",
               errno.ELOOP: "too many symbolic links in this path"}


def describe_os_error(exc: OSError) -> str:
    """A short reason for an OSError: 'no space left on the device', else its strerror."""
    return FILESYSTEM_ERRNOS.get(exc.errno, exc.strerror or str(exc))


def check_writable(path: Path, what: str) -> None:
    """`path` is a folder radbench can write into, or one it can create: its nearest existing
    ancestor is a folder this process may write in, on a file system mounted read-write.
    ConfigError otherwise. Nothing is created to find out."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path}: is a file, not a folder; give a folder path")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"{what} {path}: {probe} is a file, so no folder can be made below "
                          f"it; give a folder path")
    if not os.access(probe, os.W_OK | os.X_OK):  # asks the kernel; touches nothing
        read_only = bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
        where = "" if probe == path else f" (its nearest existing folder {probe})"
        raise ConfigError(f"{what} {path}: cannot write there{where}: "
                          f"{'read-only file system' if read_only else 'permission denied'}")


def check_output_file(path: Path, what: str = "--out", force: bool = False) -> None:
    """`path` is a file radbench may write: not a folder, not there already unless `force`,
    in a folder it can write or create. ConfigError (one line, exit 2) otherwise, before any
    work is done; nothing is created to find out."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"{what} {path}: is a folder; expected a file path")
    if path.exists() and not force:
        raise ConfigError(f"{what} {path}: already exists; add --force to overwrite it")
    probe = path.parent
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"{what} {path}: {probe} is a file, so no folder can be made below "
                          f"it; give another path")
    try:
        check_writable(path.parent, what)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(f"{what} {path.parent}:", f"{what} {path}:", 1)) \
            from None
