"""Writing a file all at once: a reader finds the old file or the new one, never half of one.

The bytes go to a temporary file in the target's folder (``os.replace`` is atomic only within
one file system), are flushed to disk, and the temporary file is renamed over the target; on any
error it is removed, so a failed write leaves neither a half file nor a stray temporary one.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path


def write_bytes_atomic(path, data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed into place; return the path.

    ``durable=False`` skips the ``fsync``: for files that may be lost in a power cut but must
    never be read half-written (a cache that recomputes what it lacks). The new file gets the
    mode of the file it replaces, or else the one ``open`` would give it (0o666 less the umask).
    """
    path = Path(path)
    mode = path.stat().st_mode & 0o777 if path.is_file() else 0o666 & ~_umask()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(temporary, mode)  # mkstemp's 0o600 would hide the file from the user's group
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path, text: str, encoding: str = "utf-8", *, durable: bool = True) -> Path:
    """:func:`write_bytes_atomic` of ``text`` encoded, its line endings kept as they are."""
    return write_bytes_atomic(path, text.encode(encoding), durable=durable)


def _umask() -> int:
    """This process's umask, read without changing it (``os.umask`` sets it to read it, which
    another thread could see); 0o022 where /proc does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def torch_save_atomic(obj, path) -> None:
    """``torch.save(obj, path)``, through :func:`write_bytes_atomic` when ``path`` is a path
    (a file object, such as a buffer, is written to directly)."""
    import torch

    if hasattr(path, "write"):
        torch.save(obj, path)
        return
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes_atomic(path, buffer.getvalue())
