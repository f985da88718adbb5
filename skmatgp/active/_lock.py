"""One campaign folder, one writer: an exclusive lock on a file in the folder.

Two processes running one campaign would both ask for labels and overwrite each other's
state. ``fcntl.flock`` holds the lock for as long as the file stays open, and the operating
system drops it when the process ends however it ends (a SIGKILL included), so a stale lock
never blocks a resume. The holder writes its PID into the file for the error message.
Where ``fcntl`` does not exist (Windows) there is no lock.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = "lock"


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
        if fcntl is None:
            return self
        path = self.folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # BlockingIOError: another open file holds it
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            who = "this process, in another Campaign," if holder == str(os.getpid()) else "another process"
            raise FolderInUseError(
                f"The campaign folder {self.folder} is in use by {who} (PID {holder}, "
                f"from {path}): one campaign folder takes one writer. Wait for that process to "
                "finish, or stop it, then run again; to run another campaign at the same time, "
                "give it another state folder."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc_info):
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # no PID left behind for a reader to blame
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        return False
