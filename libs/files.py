"""Files the library writes: whole or not at all.

Every file is written to a hidden temporary name beside its place and renamed onto it, so a
reader (or a kill -9) never meets half a file; new files and folders get the modes any new file
gets (the umask applies). Used by data, training, pictures and models alike.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path


def temporary_sibling(path: Path, create: Callable[[Path], object]) -> Path:
    """A new hidden ``.NAME.<8 hex digits>.tmp`` beside ``path``, made by ``create`` (which opens a
    file or makes a folder, and refuses a name that exists with FileExistsError).

    Made as any new file or folder is, the umask applies: 0644 and 0755 where the umask is 022,
    not the 0600 and 0700 of ``tempfile.mkstemp`` and ``mkdtemp``.
    """
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            create(tmp)
            return tmp
        except FileExistsError:  # taken: draw another name
            continue


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``, on error delete it.

    Creates the parent folder. Readers never see a half-written file; the file gets the modes
    of any new file (the umask applies).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path, lambda p: open(p, "xb").close())  # "x": a new file only
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
