"""Every file cfsnn writes appears whole or not at all: temp file, fsync, rename, fsync folder.

The two fsyncs make a finished write survive a power cut, which a checkpoint, metrics or a recipe
must. A cache that is rebuilt when a file is missing or unreadable only needs the rename (a reader
never sees half a file), and skips the fsyncs: one per framed sample costs more than the framing
on many disks and network file systems."""

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` through a temporary file renamed over it.

    Args:
        path: the file to write; its folder must exist.
        data: the whole contents.
        durable: fsync the file and its folder, so the write survives a crash of the machine.
            False only for what can be rebuilt (a cache): the rename alone still keeps readers
            from ever seeing a partial file.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(descriptor, 0o666 & ~_umask())  # mkstemp makes 0600; a result file is the user's usual mode
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if not durable:
        return
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    """`atomic_write_bytes` of `text` in UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"), durable)
