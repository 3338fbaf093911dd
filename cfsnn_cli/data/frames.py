"""Events → frames, cached on disk under a key made of every setting that shapes a frame.

A framed sample is stored as a plain .npy (read with allow_pickle=False) in
    <cache_dir>/<kind>/<split>-<key>/<sample id>.npy
where <key> hashes the dataset kind, split, T, frame size, slicing and the cache format, so a
change of any of them reads a different folder and never a stale frame. The sample id carries the
source file's size and modification time, so a replaced file is framed anew. Every write is atomic
but not fsynced: a frame lost to a crash of the machine is a missing file, framed again on next use.
"""

import hashlib
import io
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from cfsnn_cli.atomic import atomic_write_bytes, atomic_write_text
from cfsnn_cli.data.base import DatasetSplit
from cfsnn_cli.errors import CfsnnError

CACHE_FORMAT = 1
LARGE_CACHE_BYTES = 2**30  # a new cache larger than this is announced before it is written


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cfsnn" / "frames"


def settings_key(settings: dict) -> str:
    text = json.dumps({**settings, "cache_format": CACHE_FORMAT}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class FrameCache:
    def __init__(self, folder: Path, settings: dict):
        self.folder = folder
        self.settings = settings

    @classmethod
    def for_split(cls, cache_dir: str, kind: str, split: str, settings: dict) -> "FrameCache":
        base = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        return cls(base / kind / f"{split}-{settings_key({'kind': kind, 'split': split, **settings})}", settings)

    def path(self, sample_id: str) -> Path:
        return self.folder / f"{hashlib.sha256(sample_id.encode()).hexdigest()[:24]}.npy"

    def get_or_make(self, sample_id: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        path = self.path(sample_id)
        if path.exists():
            try:
                return np.load(path, allow_pickle=False)
            except (ValueError, OSError, EOFError):
                pass  # unreadable: frame it again below, and replace the file
        frames = make()
        if not self.folder.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            settings = json.dumps(self.settings, indent=2, sort_keys=True) + "\n"
            # for people wondering what a folder holds
            atomic_write_text(self.folder / "settings.json", settings, durable=False)
        buffer = io.BytesIO()
        np.save(buffer, frames, allow_pickle=False)
        # Rebuildable: the rename keeps a reader from seeing half a file; an fsync per sample would
        # cost more than framing it (see cfsnn_cli.atomic).
        atomic_write_bytes(path, buffer.getvalue(), durable=False)
        return frames


def file_identity(path: str) -> str:
    """A sample's identity for the cache: its path, size and modification time."""
    stat = os.stat(path)
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


def fixed_length(frames: np.ndarray, timesteps: int) -> np.ndarray:
    """Exactly T frames: cut the excess, pad with empty frames."""
    if frames.shape[0] >= timesteps:
        return frames[:timesteps]
    padding = np.zeros((timesteps - frames.shape[0], *frames.shape[1:]), dtype=frames.dtype)
    return np.concatenate([frames, padding])


class FramedEvents(Dataset):
    """Samples framed (and cached) on first use; augmentations run on the frames afterwards, so
    the cache holds each sample once whatever the augmentation draws."""

    def __init__(
        self,
        count: int,
        events_of: Callable[[int], np.ndarray],
        label_of: Callable[[int], int],
        identity_of: Callable[[int], str],
        to_frames: Callable[[np.ndarray], np.ndarray],
        cache: FrameCache | None,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        self.count = count
        self.events_of = events_of
        self.label_of = label_of
        self.identity_of = identity_of
        self.to_frames = to_frames
        self.cache = cache
        self.augment = augment

    def __len__(self) -> int:
        return self.count

    def frames(self, index: int) -> np.ndarray:
        if self.cache is None:
            return self.to_frames(self.events_of(index))
        return self.cache.get_or_make(self.identity_of(index), lambda: self.to_frames(self.events_of(index)))

    def __getitem__(self, index: int):
        x = torch.from_numpy(self.frames(index).astype(np.float32))
        if self.augment is not None:
            x = self.augment(x)
        return x, self.label_of(index)


def event_framer(
    sensor_size: tuple[int, int, int], frame_size: tuple[int, int], timesteps: int, window_ms: float
) -> Callable:
    """events → int16 frames [T, P, H, W] (or [T, P, W] without y), with tonic's transforms."""
    from tonic.transforms import Downsample, ToFrame

    width, height, polarities = sensor_size
    target = (frame_size[0], frame_size[1], polarities)
    resize = (
        Downsample(sensor_size=sensor_size, target_size=frame_size) if tuple(frame_size) != (width, height) else None
    )
    to_frame = ToFrame(target, time_window=window_ms * 1000) if window_ms else ToFrame(target, n_time_bins=timesteps)

    def frames(events: np.ndarray) -> np.ndarray:
        inside = events["x"] < width
        if "y" in events.dtype.names:
            inside &= events["y"] < height
        events = events[inside]
        if len(events) == 0:
            empty_shape = (
                (timesteps, polarities, frame_size[1], frame_size[0])
                if "y" in events.dtype.names
                else (timesteps, polarities, frame_size[0])
            )
            return np.zeros(empty_shape, dtype=np.int16)
        if resize is not None:
            events = resize(events)
        frames = to_frame(events)
        if (frames < 0).any():  # tonic counts in int16: more than 32767 events in one pixel and bin wrap
            raise CfsnnError(
                "timesteps",
                "a frame bin overflowed tonic's 16-bit event counts; use more time steps or a shorter window_ms",
            )
        return fixed_length(frames.astype(np.int16), timesteps)

    return frames


def framed_split(
    *,
    kind: str,
    split: str,
    dataset,
    indices: list[int],
    labels: list[int],
    class_names: list[str],
    identity: Callable[[int], str],
    to_frames: Callable,
    input_shape: tuple[int, ...],
    settings: dict,
    timesteps: int,
    cache: bool,
    cache_dir: str,
    augment,
) -> DatasetSplit:
    frame_cache = FrameCache.for_split(cache_dir, kind, split, settings) if cache else None
    if frame_cache is not None and not frame_cache.folder.exists():
        # int16 frames, T of them per sample, stored uncompressed
        size = len(indices) * timesteps * int(np.prod(input_shape)) * np.dtype(np.int16).itemsize
        if size > LARGE_CACHE_BYTES:
            print(
                f"cfsnn: framing {len(indices)} {kind} samples at T = {timesteps} writes about "
                f"{size / 2**30:.1f} GiB of frame cache to {frame_cache.folder} (data.cache = false keeps none)",
                file=sys.stderr,
                flush=True,
            )
    framed = FramedEvents(
        count=len(indices),
        events_of=lambda i: dataset[indices[i]][0],
        label_of=lambda i: labels[indices[i]],
        identity_of=lambda i: identity(indices[i]),
        to_frames=to_frames,
        cache=frame_cache,
        augment=augment,
    )
    return DatasetSplit(
        dataset=framed,
        num_classes=len(class_names),
        input_shape=input_shape,
        class_names=class_names,
        samples_are_sequences=True,
    )


@contextmanager
def discarded_if_unfinished(split: DatasetSplit) -> Iterator[None]:
    """A frame cache that this block starts is removed if the block fails: an evaluation that
    runs out of memory at a large T leaves no gigabytes of half-made cache behind."""
    cache = getattr(split.dataset, "cache", None)
    started_here = isinstance(cache, FrameCache) and not cache.folder.exists()
    try:
        yield
    except BaseException:
        if started_here:
            shutil.rmtree(cache.folder, ignore_errors=True)
        raise
