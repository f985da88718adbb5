"""One campaign folder, one writer: an exclusive lock on a file in the folder.

Two processes running one campaign would both ask for labels and overwrite each other's
state. ``fcntl.flock`` (``msvcrt.locking`` on Windows) holds the lock for as long as the file
stays open, and the operating system drops it when the process ends however it ends (a SIGKILL
included), so a stale lock never blocks a resume. The holder writes its PID into the file for
the error message. A file system that offers no locks (NFS without a lock daemon, Lustre
mounted without flock) fails every lock, busy or not: there the campaign warns once and runs
unlocked rather than blame a process that does not exist.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .._warnings import warn_user

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

LOCK_NAME = "lock"
_unlocked_folders: set[Path] = set()  # folders already warned about, one warning each

if fcntl is not None:
    _BUSY = (errno.EAGAIN, errno.EWOULDBLOCK)

    def _lock(fd):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd):
        fcntl.flock(fd, fcntl.LOCK_UN)

else:  # pragma: no cover - Windows
    _BUSY = (errno.EACCES, errno.EDEADLOCK)
    _LOCKED_BYTE = 64  # past the PID, which the refused process must still read

    def _lock(fd):
        os.lseek(fd, _LOCKED_BYTE, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd):
        os.lseek(fd, _LOCKED_BYTE, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


class FolderInUseError(OSError):
    """Another process is running a campaign in this state folder (an OSError, as the busy
    lock is the operating system's: the command line reports it in one line)."""


class FolderLock:
    """``with FolderLock(folder):`` holds ``folder/lock``, or raises FolderInUseError naming
    the folder and the PID of the process that holds it."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self._fd = None

    def __enter__(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd)
        except OSError as exc:
            if exc.errno in _BUSY:  # another open file holds it
                self._refuse(fd, path)
            os.close(fd)  # no locks on this file system: run unlocked
            self._warn_unlocked(path, exc)
            return self
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def _refuse(self, fd, path):
        os.lseek(fd, 0, os.SEEK_SET)
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        who = "this process, in another Campaign," if holder == str(os.getpid()) else "another process"
        raise FolderInUseError(
            f"The campaign folder {self.folder} is in use by {who} (PID {holder}, "
            f"from {path}): one campaign folder takes one writer. Wait for that process to "
            "finish, or stop it, then run again; to run another campaign at the same time, "
            "give it another state folder."
        ) from None

    def _warn_unlocked(self, path, exc):
        folder = self.folder.resolve()
        if folder not in _unlocked_folders:
            _unlocked_folders.add(folder)
            warn_user(
                f"The file system of the campaign folder {self.folder} offers no file locks "
                f"(locking {path}: {exc.strerror or exc}); the campaign runs without one. Run "
                "one campaign at a time in this folder, or put the state folder on a local disk."
            )

    def __exit__(self, *exc_info):
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # no PID left behind for a reader to blame
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None
        return False
