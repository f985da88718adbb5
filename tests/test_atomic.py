"""Files written all at once: the old file or the new one, never half of one, and no temporary
file left behind when a write fails."""

import os
import stat

import pytest

from skmatgp import _atomic
from skmatgp._atomic import write_bytes_atomic, write_text_atomic


def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path):
    path = write_text_atomic(tmp_path / "a.csv", "id,mean\r\nFe\u2082O\u2083,1.0\r\n")
    assert path.read_bytes() == "id,mean\r\nFe\u2082O\u2083,1.0\r\n".encode()  # UTF-8, endings kept
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"old")
    path.chmod(0o600)
    write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    path = tmp_path / "table.csv"
    path.write_text("old\n")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_atomic.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        write_text_atomic(path, "new\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]
