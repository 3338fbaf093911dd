"""Every file cfsnn writes appears whole or not at all: temp file, fsync, rename, fsync folder.

The two fsyncs make a finished write survive a power cut, which a checkpoint, metrics or a recipe
must. A cache that is rebuilt when a file is missing or unreadable only needs the rename (a reader
never sees half a file), and skips the fsyncs: one per framed sample costs more than the framing
on many disks and network file systems."""

import os
import tempfile
from pathlib import Path

# a write's temporary file is `.NAME.RANDOM.tmp`, beside NAME: hidden, and known for what it stands in for
TEMPORARY_PREFIX, TEMPORARY_SUFFIX = ".", ".tmp"


def temporary_target(name: str) -> str | None:
    """The file name a temporary file name `.NAME.RANDOM.tmp` stands in for; None for any other name."""
    if not (name.startswith(TEMPORARY_PREFIX) and name.endswith(TEMPORARY_SUFFIX)):
        return None
    return name[len(TEMPORARY_PREFIX) : -len(TEMPORARY_SUFFIX)].rpartition(".")[0] or None


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

    Raises:
        OSError: the system's error, naming `path` where the system named no file (a full disk).
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f"{TEMPORARY_PREFIX}{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent
    )
    try:
        os.fchmod(descriptor, 0o666 & ~_umask())  # mkstemp makes 0600; a result file is the user's usual mode
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            # a write that runs out of space names no file: name the one that could not be written
            raise OSError(error.errno, error.strerror, str(path)) from error
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
