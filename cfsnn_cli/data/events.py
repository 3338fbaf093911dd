"""Event-camera and spiking-audio datasets through tonic, made offline-safe and reproducible.

For each kind cfsnn (1) checks the on-disk layout itself and names the folder that is missing or
partial, (2) opens tonic's own class with its download step disabled (a same-named subclass, as
tonic finds its folder by class name) unless the recipe asks to download, (3) sorts the samples
by path, (4) gives integer labels and, where the dataset has no official split, a fixed seeded
9:1 split per class, and (5) frames events with tonic's Downsample and ToFrame into a cache.
"""

import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from cfsnn_cli.data.base import DatasetSplit
from cfsnn_cli.data.event_augment import frame_augmentation
from cfsnn_cli.data.frames import FrameCache, FramedEvents, file_identity, fixed_length
from cfsnn_cli.data.registry import DATASETS
from cfsnn_cli.errors import CfsnnError, require

TEST_FRACTION = 0.1  # of each class, for datasets without an official split


@dataclass(frozen=True)
class EventDataset:
    kind: str
    tonic_name: str  # tonic's class, and the folder under data.root it reads
    sensor_size: tuple[int, int, int]  # W, H, P
    frame_size: int  # default side of the square frames
    source: str
    layout: str  # what must be under <root>/<tonic_name>/
    official_split: bool


NMNIST = EventDataset("nmnist", "NMNIST", (34, 34, 2), 34, "https://www.garrickorchard.com/datasets/n-mnist", "Train/<digit>/*.bin and Test/<digit>/*.bin", True)
DVS_GESTURE = EventDataset("dvs-gesture", "DVSGesture", (128, 128, 2), 128, "tonic's preprocessed DVS128 Gesture release (figshare 38022171, 38020584)", "ibmGestureTrain/user<NN>_<lighting>/<label>.npy and ibmGestureTest/…", True)
CIFAR10_DVS = EventDataset("cifar10-dvs", "CIFAR10DVS", (128, 128, 2), 128, "tonic's AEDAT4 release of CIFAR10-DVS (Li et al. 2017; figshare 4724671 has the original)", "<class>/*.aedat4 for the ten CIFAR-10 classes", False)
NCALTECH101 = EventDataset("ncaltech101", "NCALTECH101", (240, 180, 2), 48, "https://www.garrickorchard.com/datasets/n-caltech101 (unzip Caltech101.zip inside the archive)", "Caltech101/<class>/*.bin", False)


def _missing(folder: Path, spec: EventDataset, detail: str) -> CfsnnError:
    return CfsnnError(
        "root",
        f"{folder} {detail}; {spec.kind} expects {spec.layout} under {folder.parent if folder.name != spec.tonic_name else folder} "
        f"— get it from {spec.source} (cfsnn downloads only with data.download = true)",
    )


def _dataset_folder(root: str, spec: EventDataset) -> Path:
    require(bool(root), "root", f"{spec.kind} needs data.root, the folder that holds {spec.tonic_name}/ (or --data-root)")
    folder = Path(root).expanduser() / spec.tonic_name
    if not folder.is_dir():
        raise _missing(folder, spec, "is missing")
    return folder


def _check_classes(folder: Path, names: list[str], pattern: str, spec: EventDataset) -> None:
    if not folder.is_dir():
        raise _missing(folder, spec, "is missing")
    empty = [name for name in names if not any((folder / name).glob(pattern))]
    if empty:
        raise _missing(folder, spec, f"is partial: no {pattern} files for {', '.join(empty)}")


def check_layout(spec: EventDataset, root: str, split: str) -> Path:
    """The dataset's folder, after checking that the files tonic will read are there."""
    folder = _dataset_folder(root, spec)
    if spec is NMNIST:
        _check_classes(folder / ("Train" if split == "train" else "Test"), [str(d) for d in range(10)], "*.bin", spec)
    elif spec is DVS_GESTURE:
        split_folder = folder / ("ibmGestureTrain" if split == "train" else "ibmGestureTest")
        users = sorted(p.name for p in split_folder.iterdir() if p.is_dir()) if split_folder.is_dir() else []
        if not users:
            raise _missing(split_folder, spec, "is missing or holds no user folders")
        misnamed = [u for u in users if not re.fullmatch(r"user\d+_\w+", u)]
        if misnamed:
            raise _missing(split_folder, spec, f"has folders not named user<NN>_<lighting>: {', '.join(misnamed)}")
        _check_classes(split_folder, users, "*.npy", spec)
    elif spec is CIFAR10_DVS:
        if importlib.util.find_spec("aedat") is None:
            raise CfsnnError("kind", "cifar10-dvs reads AEDAT4 files with the `aedat` package: pip install aedat")
        _check_classes(folder, CIFAR10_CLASSES, "*.aedat4", spec)
    elif spec is NCALTECH101:
        classes_folder = folder / "Caltech101"
        classes = sorted(p.name for p in classes_folder.iterdir() if p.is_dir()) if classes_folder.is_dir() else []
        if len(classes) < 2:
            raise _missing(classes_folder, spec, "is missing or holds fewer than two class folders (is Caltech101.zip still zipped?)")
        _check_classes(classes_folder, classes, "*.bin", spec)
    return folder


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def open_tonic(tonic_name: str, root: str, download: bool, **kwargs):
    """tonic's dataset class, constructed without its download step unless asked for."""
    import tonic

    cls = getattr(tonic.datasets, tonic_name)
    if download:
        return cls(str(Path(root).expanduser()), **kwargs)

    def refuse(self):
        raise CfsnnError("download", f"{tonic_name} would download; set data.download = true to allow it")

    # Same class name, so tonic looks in the same <root>/<ClassName>/ folder.
    offline = type(cls.__name__, (cls,), {"_check_exists": lambda self: True, "download": refuse})
    return offline(str(Path(root).expanduser()), **kwargs)


def sort_by_path(dataset, *parallel: str) -> None:
    """tonic walks folders in file-system order; sort data, targets (and any parallel list)."""
    order = sorted(range(len(dataset.data)), key=lambda i: dataset.data[i])
    for name in ("data", "targets", *parallel):
        values = getattr(dataset, name)
        setattr(dataset, name, [values[i] for i in order])


def split_per_class(labels: list[int], split: str, seed: int) -> list[int]:
    """A fixed 9:1 split of every class: indices of the training or the test part, sorted."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in sorted(set(labels)):
        members = [i for i, value in enumerate(labels) if value == label]
        order = torch.randperm(len(members), generator=generator).tolist()
        test_count = round(len(members) * TEST_FRACTION) if len(members) > 1 else 0
        test_count = max(test_count, 1) if len(members) > 1 else 0
        part = order[:test_count] if split == "test" else order[test_count:]
        chosen += [members[i] for i in part]
    return sorted(chosen)


def event_framer(sensor_size: tuple[int, int, int], frame_size: tuple[int, int], timesteps: int, window_ms: float) -> Callable:
    """events → int16 frames [T, P, H, W] (or [T, P, W] without y), with tonic's transforms."""
    from tonic.transforms import Downsample, ToFrame

    width, height, polarities = sensor_size
    target = (frame_size[0], frame_size[1], polarities)
    resize = Downsample(sensor_size=sensor_size, target_size=frame_size) if tuple(frame_size) != (width, height) else None
    to_frame = ToFrame(target, time_window=window_ms * 1000) if window_ms else ToFrame(target, n_time_bins=timesteps)

    def frames(events: np.ndarray) -> np.ndarray:
        inside = events["x"] < width
        if "y" in events.dtype.names:
            inside &= events["y"] < height
        events = events[inside]
        if len(events) == 0:
            empty_shape = (timesteps, polarities, frame_size[1], frame_size[0]) if "y" in events.dtype.names else (timesteps, polarities, frame_size[0])
            return np.zeros(empty_shape, dtype=np.int16)
        if resize is not None:
            events = resize(events)
        return fixed_length(to_frame(events).astype(np.int16), timesteps)

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
    cache: bool,
    cache_dir: str,
    augment,
) -> DatasetSplit:
    frame_cache = FrameCache.for_split(cache_dir, kind, split, settings) if cache else None
    framed = FramedEvents(
        count=len(indices),
        events_of=lambda i: dataset[indices[i]][0],
        label_of=lambda i: labels[indices[i]],
        identity_of=lambda i: identity(indices[i]),
        to_frames=to_frames,
        cache=frame_cache,
        augment=augment if split == "train" else None,
    )
    return DatasetSplit(dataset=framed, num_classes=len(class_names), input_shape=input_shape, class_names=class_names, time_major=True)


def _camera_split(spec: EventDataset, split, timesteps, root, download, frame_size, window_ms, flip, roll, drop, nda, cache, cache_dir, split_seed=0) -> DatasetSplit:
    require(frame_size >= 4, "frame_size", f"must be >= 4 (got {frame_size})")
    require(window_ms >= 0, "window_ms", f"must be >= 0 (got {window_ms})")
    augment = frame_augmentation(flip, roll, drop, nda)
    if not download:
        check_layout(spec, root, split)
    if spec is NMNIST or spec is DVS_GESTURE:
        dataset = open_tonic(spec.tonic_name, root, download, train=split == "train")
    else:
        dataset = open_tonic(spec.tonic_name, root, download)
    sort_by_path(dataset, *(("users", "lighting") if spec is DVS_GESTURE else ()))
    if spec is NCALTECH101:
        class_names = sorted(set(dataset.targets))
        labels = [class_names.index(name) for name in dataset.targets]
    else:
        class_names = [str(c) for c in range(10)] if spec is NMNIST else list(dataset.classes) if spec is DVS_GESTURE else CIFAR10_CLASSES
        labels = [int(label) for label in dataset.targets]
    indices = list(range(len(labels))) if spec.official_split else split_per_class(labels, split, split_seed)
    settings = {"timesteps": timesteps, "frame_size": frame_size, "window_ms": window_ms, "sensor_size": spec.sensor_size}
    if not spec.official_split:
        settings["split_seed"] = split_seed
    return framed_split(
        kind=spec.kind,
        split=split,
        dataset=dataset,
        indices=indices,
        labels=labels,
        class_names=class_names,
        identity=lambda i: file_identity(dataset.data[i]),
        to_frames=event_framer(spec.sensor_size, (frame_size, frame_size), timesteps, window_ms),
        input_shape=(spec.sensor_size[2], frame_size, frame_size),
        settings=settings,
        cache=cache,
        cache_dir=cache_dir,
        augment=augment,
    )


def _register_camera(spec: EventDataset):
    if spec.official_split:

        def build(
            split: Literal["train", "test"],
            timesteps: int,
            root: str = "",
            download: bool = False,
            frame_size: int = spec.frame_size,
            window_ms: float = 0.0,
            flip: bool = False,
            roll: int = 0,
            drop: float = 0.0,
            nda: bool = False,
            cache: bool = True,
            cache_dir: str = "",
        ) -> DatasetSplit:
            return _camera_split(spec, split, timesteps, root, download, frame_size, window_ms, flip, roll, drop, nda, cache, cache_dir)

    else:

        def build(
            split: Literal["train", "test"],
            timesteps: int,
            root: str = "",
            download: bool = False,
            frame_size: int = spec.frame_size,
            window_ms: float = 0.0,
            flip: bool = False,
            roll: int = 0,
            drop: float = 0.0,
            nda: bool = False,
            cache: bool = True,
            cache_dir: str = "",
            split_seed: int = 0,
        ) -> DatasetSplit:
            return _camera_split(spec, split, timesteps, root, download, frame_size, window_ms, flip, roll, drop, nda, cache, cache_dir, split_seed)

    build.__name__ = build.__qualname__ = spec.kind.replace("-", "_")
    return DATASETS.register(spec.kind)(build)


for _spec in (NMNIST, DVS_GESTURE, CIFAR10_DVS, NCALTECH101):
    _register_camera(_spec)


@DATASETS.register("shd")
def shd(
    split: Literal["train", "test"],
    timesteps: int,
    root: str = "",
    download: bool = False,
    channels: int = 700,
    window_ms: float = 0.0,
    drop: float = 0.0,
    cache: bool = True,
    cache_dir: str = "",
) -> DatasetSplit:
    """Spiking Heidelberg Digits: 700 cochlea channels, 20 spoken digits (English and German).
    `channels` < 700 sums neighbouring channels (tonic's Downsample)."""
    require(1 <= channels <= 700, "channels", f"must be in 1..700 (got {channels})")
    require(window_ms >= 0, "window_ms", f"must be >= 0 (got {window_ms})")
    file = Path(root).expanduser() / "SHD" / f"shd_{split}.h5"
    if not download:
        require(bool(root), "root", "shd needs data.root, the folder that holds SHD/ (or --data-root)")
        _check_shd_file(file)
    dataset = open_tonic("SHD", root, download, train=split == "train")
    import h5py

    with h5py.File(file, "r") as handle:
        labels = [int(label) for label in handle["labels"][()]]
        class_names = [key.decode() if isinstance(key, bytes) else str(key) for key in handle["extra/keys"][()]]
    stamp = file_identity(str(file))
    return framed_split(
        kind="shd",
        split=split,
        dataset=dataset,
        indices=list(range(len(labels))),
        labels=labels,
        class_names=class_names,
        identity=lambda i: f"{stamp}#{i}",
        to_frames=event_framer((700, 1, 1), (channels, 1), timesteps, window_ms),
        input_shape=(1, channels),
        settings={"timesteps": timesteps, "channels": channels, "window_ms": window_ms},
        cache=cache,
        cache_dir=cache_dir,
        augment=frame_augmentation(False, 0, drop, False),
    )


def _check_shd_file(file: Path) -> None:
    source = "https://zenkelab.org/datasets/ (shd_train.h5.zip, shd_test.h5.zip, unzipped)"
    if not file.is_file():
        raise CfsnnError("root", f"{file} is missing; shd expects shd_train.h5 and shd_test.h5 under {file.parent} — get them from {source}")
    import h5py

    try:
        with h5py.File(file, "r") as handle:
            missing = [key for key in ("spikes/times", "spikes/units", "labels", "extra/keys") if key not in handle]
    except OSError as error:
        raise CfsnnError("root", f"{file} is not a readable HDF5 file ({error})") from None
    if missing:
        raise CfsnnError("root", f"{file} is partial: it lacks {', '.join(missing)}")
