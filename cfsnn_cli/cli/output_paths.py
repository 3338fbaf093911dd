"""Checks on the files a command is asked to write, made before any work starts: an output never
replaces what the command reads, a checkpoint, a training state or any other safetensors file."""

import tempfile
from pathlib import Path

from cfsnn_cli.errors import CfsnnError

SAFETENSORS_SUFFIX = ".safetensors"


def _looks_like_safetensors(path: Path) -> bool:
    """A safetensors file starts with its header's length (8 bytes, little-endian) and then '{'."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(9)
    except OSError:
        return False
    return len(start) == 9 and start[8:9] == b"{" and int.from_bytes(start[:8], "little") < 100_000_000


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return a.samefile(b)
    return a.expanduser().resolve() == b.expanduser().resolve()


def check_outputs(outputs: dict[str, Path | None], reads: list[Path]) -> dict[str, Path | None]:
    """Refuse, as one CfsnnError naming the option, any output (option → path, None = not asked
    for) that would replace a file in `reads`, an existing safetensors file, a folder, another
    output, or that sits in a folder that does not exist or cannot be written to.

    Returns the outputs with `~` expanded: the paths to write.
    """
    chosen = {option: Path(path).expanduser() for option, path in outputs.items() if path is not None}
    for option, path in chosen.items():
        if path.is_dir():
            raise CfsnnError(option, f"{path} is a folder; give a file name")
        if not path.parent.is_dir():
            raise CfsnnError(option, f"folder {path.parent} does not exist")
        try:  # tried, not read off the mode bits, which say nothing for root or a read-only mount
            with tempfile.TemporaryFile(dir=path.parent):
                pass
        except OSError as error:
            raise CfsnnError(option, f"cannot write in {path.parent}: {error.strerror}") from None
        for read in reads:
            if _same_file(path, read):
                raise CfsnnError(option, f"{path} is the file this command reads; give another name")
        if path.exists() and (path.suffix == SAFETENSORS_SUFFIX or _looks_like_safetensors(path)):
            raise CfsnnError(
                option,
                f"{path} is an existing safetensors file (weights or training state); cfsnn never overwrites one",
            )
    names = list(chosen)
    for index, option in enumerate(names):
        for other in names[index + 1 :]:
            if _same_file(chosen[option], chosen[other]):
                raise CfsnnError(option, f"{option} and {other} name the same file {chosen[option]}")
    return {option: chosen.get(option) for option in outputs}
