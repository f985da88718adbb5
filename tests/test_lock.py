"""One campaign folder, one writer: a busy lock is refused naming the holder; a file system
without locks (NFS without lockd, Lustre without flock) runs unlocked with one warning."""

import errno
import os
import warnings

import pytest

from skmatgp.active import _lock
from skmatgp.active._lock import FolderInUseError, FolderLock

pytestmark = pytest.mark.skipif(_lock.fcntl is None, reason="flock is POSIX")


def test_a_second_lock_on_a_busy_folder_is_refused_naming_the_holder(tmp_path):
    busy = rf"{tmp_path} is in use by this process.*PID {os.getpid()}"
    with FolderLock(tmp_path), pytest.raises(FolderInUseError, match=busy):
        FolderLock(tmp_path).__enter__()
    with FolderLock(tmp_path):  # released on exit
        pass


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP], ids=errno.errorcode.get)
def test_a_file_system_without_locks_runs_unlocked_with_one_warning(tmp_path, monkeypatch, code):
    def no_locks(fd, operation):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(_lock.fcntl, "flock", no_locks)
    folder = tmp_path / "on_nfs"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with FolderLock(folder), FolderLock(folder):  # neither is blamed on another process
            pass
        with FolderLock(folder):
            pass
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages  # once per folder, not at every run
    assert f"{folder} offers no file locks" in messages[0] and os.strerror(code) in messages[0]
    assert "runs without one" in messages[0]
