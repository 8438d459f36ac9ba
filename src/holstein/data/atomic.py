"""Atomic file writes: a result appears at its final path complete, or not at all.

Everything is written to a temporary name in the target directory and renamed with
``os.replace`` (atomic on POSIX file systems) once complete, so a job killed at any
point never leaves a partial file where a finished result is expected.  And the digest
that tells a finished file from another (``file_sha256``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to ``path``; rename it to ``path`` only on success.

    The result gets the mode a plain ``open`` would give it (0666 less the umask):
    ``mkstemp`` creates 0600 files, which would hide results from a shared project group.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)



def file_sha256(path) -> str | None:
    """sha256 of the file's bytes (None for no path)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None
