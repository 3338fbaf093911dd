"""The safetensors files cfsnn writes (checkpoints, training states, inference bundles): written
atomically, sealed with a digest, verified whenever their tensors are read.

safetensors itself has no checksum: a file with bytes flipped inside a tensor loads. So every file
carries, in its metadata, `digest = "sha256:<hex>"`: the SHA-256 of the whole file as written with
that hex set to zeros. It covers the tensors and the header (the recipe, the position in training),
costs one pass over the bytes to check, and leaves the file an ordinary safetensors file that any
reader opens. A file written before digests existed is read as before and said once to be
unverified.
"""

import hashlib
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from cfsnn_cli.atomic import atomic_write_bytes
from cfsnn_cli.errors import CfsnnError, CfsnnNotice

FORMAT = "cfsnn"  # every file's metadata: format, format_version, digest, and what its writer adds
FORMAT_VERSION = "1"
DIGEST_KEY = "digest"
DIGEST_PREFIX = "sha256:"
UNSET_DIGEST = "0" * 64  # the digest's place while the digest is computed
HEADER_LENGTH_BYTES = 8  # a safetensors file starts with its JSON header's length, little-endian
CHUNK_BYTES = 1 << 20


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write `tensors` (moved to the CPU, made contiguous) and `metadata` to `path`, atomically,
    marked as cfsnn's (format, format_version) and sealed with the digest of the file's bytes."""
    cpu = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
    marked = {"format": FORMAT, "format_version": FORMAT_VERSION, **metadata}
    data = bytearray(safetensors_bytes(cpu, metadata={**marked, DIGEST_KEY: DIGEST_PREFIX + UNSET_DIGEST}))
    digest = hashlib.sha256(data).hexdigest()
    start = _digest_offset(data, UNSET_DIGEST)
    data[start : start + len(digest)] = digest.encode()
    atomic_write_bytes(path, bytes(data))


def _digest_offset(data: bytes | bytearray, digest: str) -> int:
    """Where `digest`'s hex stands in the header of `data` (which holds at least the header)."""
    header_end = HEADER_LENGTH_BYTES + int.from_bytes(data[:HEADER_LENGTH_BYTES], "little")
    entry = f'"{DIGEST_KEY}":"{DIGEST_PREFIX}{digest}"'.encode()
    position = bytes(data[:header_end]).find(entry)
    if position < 0:
        raise ValueError("the digest is not in the header")
    return position + len(entry) - len(digest) - 1


def verify_digest(path: Path, metadata: dict[str, str], what: str) -> bool:
    """Check `path` against the digest its `metadata` records; False for a file without one.

    Raises:
        CfsnnError: naming `what`, when the bytes differ from those the digest was made of.
    """
    recorded = metadata.get(DIGEST_KEY, "")
    if not recorded.startswith(DIGEST_PREFIX):
        return False
    hex_digest = recorded[len(DIGEST_PREFIX) :]
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        length = handle.read(HEADER_LENGTH_BYTES)
        header = bytearray(length + handle.read(int.from_bytes(length, "little")))
        try:
            start = _digest_offset(header, hex_digest)
        except ValueError:
            raise CfsnnError(what, f"{path} is corrupt: its digest is unreadable") from None
        header[start : start + len(hex_digest)] = UNSET_DIGEST.encode()
        hasher.update(header)
        while chunk := handle.read(CHUNK_BYTES):
            hasher.update(chunk)
    if hasher.hexdigest() != hex_digest:
        raise CfsnnError(what, f"{path} is corrupt: digest mismatch (its bytes changed after cfsnn wrote it)")
    return True


def read_safetensors(path: Path, what: str, tensors: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a file, its digest verified; with tensors=False only the header is
    read (and nothing verified: the caller reads the tensors, and so verifies, before it trusts them).

    Raises:
        CfsnnError: naming `what`: the file is missing, not a safetensors file, or corrupt.
    """
    if not path.is_file():
        raise CfsnnError(what, f"{path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            verified = tensors and verify_digest(path, metadata, what)
            if tensors and not verified and metadata.get("format") == FORMAT:
                warnings.warn(
                    f"{path} carries no digest (an earlier cfsnn wrote it): read unverified", CfsnnNotice, stacklevel=2
                )
            contents = {name: handle.get_tensor(name) for name in handle.keys()} if tensors else {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        if isinstance(error, CfsnnError):
            raise
        raise CfsnnError(what, f"{path} is not a readable safetensors file (truncated or corrupt?): {error}") from None
    return contents, metadata
