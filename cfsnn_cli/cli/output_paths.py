"""The one output rule every command follows, checked before any work starts:

- an output never replaces a path that a run folder or a sweep folder owns (engine/run_folder.py
  lists them), nor a file the command reads, nor an existing safetensors file, nor another output;
- its suffix fits what is written (`--json` a .json, a plot .png/.pdf/.svg, export's `--out` its
  `--format`'s suffix);
- an existing file is replaced only when it is of the kind written, and that is said in one line.

A refusal is one CfsnnError naming the option and the path; nothing is written.
"""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer

from cfsnn_cli.engine.run_folder import owned_by
from cfsnn_cli.errors import CfsnnError

SNIFF_BYTES = 4096  # enough of a file's start to tell its kind


def _start(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(SNIFF_BYTES)


def _json_start(start: bytes) -> bool:
    return start.lstrip()[:1] in (b"{", b"[")


def _plot_start(start: bytes) -> bool:
    return start.startswith((b"\x89PNG\r\n\x1a\n", b"%PDF-")) or b"<svg" in start


def _safetensors_start(start: bytes) -> bool:
    """A safetensors file starts with its header's length (8 bytes, little-endian) and then '{'."""
    return len(start) >= 9 and start[8:9] == b"{" and int.from_bytes(start[:8], "little") < 100_000_000


def _onnx_start(start: bytes) -> bool:
    # a ModelProto starts with field 1 (ir_version, a varint): the byte 0x08
    return start[:1] == b"\x08" and not _safetensors_start(start)


def _nir_start(start: bytes) -> bool:
    return start.startswith(b"\x89HDF\r\n\x1a\n")  # NIR files are HDF5


@dataclass(frozen=True)
class FileKind:
    """What an output is: the suffixes its name may end in, and how to tell an existing file of
    this kind by its first bytes."""

    name: str
    suffixes: tuple[str, ...]
    looks_like: Callable[[bytes], bool]


JSON_FILE = FileKind("JSON", (".json",), _json_start)
PLOT_FILE = FileKind("plot", (".png", ".pdf", ".svg"), _plot_start)
SAFETENSORS_FILE = FileKind("safetensors", (".safetensors",), _safetensors_start)
ONNX_FILE = FileKind("ONNX", (".onnx",), _onnx_start)
NIR_FILE = FileKind("NIR", (".nir",), _nir_start)


@dataclass(frozen=True)
class Output:
    """One file a command was asked to write: its path (None: not asked for) and its kind."""

    path: Path | None
    kind: FileKind


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return a.samefile(b)
    return a.expanduser().resolve() == b.expanduser().resolve()


def refuse_owned(option: str, path: Path) -> None:
    """A CfsnnError naming `option` when `path` is, or lies in, what a run or sweep folder owns."""
    owner = owned_by(path)
    if owner is not None:
        folder, what = owner
        raise CfsnnError(option, f"{path} belongs to the {what} folder {folder}; write somewhere else")


def _check_writable_folder(option: str, folder: Path) -> None:
    if not folder.is_dir():
        raise CfsnnError(option, f"folder {folder} does not exist")
    try:  # tried, not read off the mode bits, which say nothing for root or a read-only mount
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise CfsnnError(option, f"cannot write in {folder}: {error.strerror}") from None


def _check_one(option: str, path: Path, kind: FileKind, reads: list[Path]) -> bool:
    """Refuse `path` for `option` as the rule says; True when it replaces an existing file."""
    if path.is_dir():
        raise CfsnnError(option, f"{path} is a folder; give a file name")
    if path.suffix.lower() not in kind.suffixes:
        given = f"'{path.suffix}'" if path.suffix else "no suffix"
        raise CfsnnError(option, f"{path} has {given}; a {kind.name} file's name ends in {' or '.join(kind.suffixes)}")
    refuse_owned(option, path)
    for read in reads:
        if _same_file(path, read):
            raise CfsnnError(option, f"{path} is a file this command reads; give another name")
    _check_writable_folder(option, path.parent)
    if not path.exists():
        return False
    start = _start(path)
    if _safetensors_start(start):
        raise CfsnnError(
            option, f"{path} is an existing safetensors file (weights or training state); cfsnn never overwrites one"
        )
    if start and not kind.looks_like(start):
        raise CfsnnError(option, f"{path} exists and is not a {kind.name} file; cfsnn replaces only its own kind")
    return True


def check_outputs(outputs: dict[str, Output], reads: list[Path]) -> dict[str, Path | None]:
    """Check every output (option → Output) against the rule, before any work; say in one line
    each existing file that will be replaced.

    Args:
        outputs: what the command was asked to write, by the option that named it.
        reads: the files the command reads (a checkpoint, a run's recipe.toml and metrics).

    Returns:
        The paths to write, with `~` expanded, by option (None where not asked for).

    Raises:
        CfsnnError: naming the option and the path, for the first output the rule refuses.
    """
    chosen = {option: Path(out.path).expanduser() for option, out in outputs.items() if out.path is not None}
    replaced = [option for option, path in chosen.items() if _check_one(option, path, outputs[option].kind, reads)]
    names = list(chosen)
    for index, option in enumerate(names):
        for other in names[index + 1 :]:
            if _same_file(chosen[option], chosen[other]):
                raise CfsnnError(option, f"{option} and {other} name the same file {chosen[option]}")
    for option in replaced:
        typer.echo(f"cfsnn: {option} replaces the existing {outputs[option].kind.name} file {chosen[option]}", err=True)
    return {option: chosen.get(option) for option in outputs}


def check_output_folder(option: str, folder: Path) -> Path:
    """A folder a command writes into (a run, a sweep, profile-spikes' PNGs): refused where a file
    stands in its place or where it is, or lies in, what a run or sweep folder owns. Returns it
    with `~` expanded."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise CfsnnError(option, f"{folder} is a file; give a folder")
    refuse_owned(option, folder)
    return folder
