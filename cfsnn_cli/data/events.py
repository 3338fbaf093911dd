"""Event-camera datasets through tonic, made offline-safe and reproducible.

For each kind cfsnn (1) checks the on-disk layout itself and names the folder that is missing or
partial, (2) opens tonic's own class with its download step disabled (a same-named subclass, as
tonic finds its folder by class name) unless the recipe asks to download, (3) sorts the samples
by path, (4) gives integer labels and, where the dataset has no official split, a fixed seeded
9:1 split per class, and (5) frames events with tonic's Downsample and ToFrame into a cache.
"""

import importlib.util
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from annotated_types import Ge, Le

from cfsnn_cli.data.base import DatasetSplit
from cfsnn_cli.data.event_augment import frame_augmentation
from cfsnn_cli.data.frames import event_framer, file_identity, framed_split
from cfsnn_cli.data.registry import DATASETS, INPUT_SHAPES
from cfsnn_cli.data.tonic_access import open_tonic, sort_by_path, split_per_class
from cfsnn_cli.errors import CfsnnError, require
from cfsnn_cli.options import NonNegative, NonNegativeInt, Probability


@dataclass(frozen=True)
class EventDataset:
    """What cfsnn knows about one recorded event dataset beyond what tonic's class does."""

    kind: str
    tonic_name: str  # tonic's class, and the folder under data.root it reads
    sensor_size: tuple[int, int, int]  # W, H, P
    frame_size: int  # default side of the square frames
    source: str
    layout: str  # what must be under <root>/<tonic_name>/
    official_split: bool  # if not, cfsnn splits 9:1 per class
    check_files: Callable[[Path, str, "EventDataset"], None]  # (dataset folder, split) → raise if missing
    takes_train_flag: bool  # tonic's class has a train= argument
    class_names: Callable[[object], list[str]]  # from the (sorted) tonic dataset
    parallel_lists: tuple[str, ...] = ()  # lists tonic keeps beside data and targets


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _missing(folder: Path, spec: EventDataset, detail: str) -> CfsnnError:
    return CfsnnError(
        "root",
        f"{folder} {detail}; {spec.kind} expects {spec.layout} under <root>/{spec.tonic_name} "
        f"— get it from {spec.source} (cfsnn downloads only with data.download = true)",
    )


def _require_files(folder: Path, names: list[str], pattern: str, spec: EventDataset) -> None:
    if not folder.is_dir():
        raise _missing(folder, spec, "is missing")
    empty = [name for name in names if not any((folder / name).glob(pattern))]
    if empty:
        raise _missing(folder, spec, f"is partial: no {pattern} files for {', '.join(empty)}")


def _check_nmnist(folder: Path, split: str, spec: EventDataset) -> None:
    _require_files(folder / ("Train" if split == "train" else "Test"), [str(d) for d in range(10)], "*.bin", spec)


def _check_dvs_gesture(folder: Path, split: str, spec: EventDataset) -> None:
    split_folder = folder / ("ibmGestureTrain" if split == "train" else "ibmGestureTest")
    users = sorted(p.name for p in split_folder.iterdir() if p.is_dir()) if split_folder.is_dir() else []
    if not users:
        raise _missing(split_folder, spec, "is missing or holds no user folders")
    misnamed = [user for user in users if not re.fullmatch(r"user\d+_\w+", user)]
    if misnamed:  # tonic reads user and lighting from the folder name
        raise _missing(split_folder, spec, f"has folders not named user<NN>_<lighting>: {', '.join(misnamed)}")
    _require_files(split_folder, users, "*.npy", spec)


def _check_cifar10_dvs(folder: Path, split: str, spec: EventDataset) -> None:
    if importlib.util.find_spec("aedat") is None:
        raise CfsnnError("kind", "cifar10-dvs reads AEDAT4 files with the `aedat` package: pip install aedat")
    _require_files(folder, CIFAR10_CLASSES, "*.aedat4", spec)


def _check_ncaltech101(folder: Path, split: str, spec: EventDataset) -> None:
    classes_folder = folder / "Caltech101"
    classes = sorted(p.name for p in classes_folder.iterdir() if p.is_dir()) if classes_folder.is_dir() else []
    if len(classes) < 2:
        raise _missing(
            classes_folder, spec, "is missing or holds fewer than two class folders (is Caltech101.zip still zipped?)"
        )
    _require_files(classes_folder, classes, "*.bin", spec)


CAMERA_DATASETS = (
    EventDataset(
        "nmnist",
        "NMNIST",
        (34, 34, 2),
        34,
        "https://www.garrickorchard.com/datasets/n-mnist",
        "Train/<digit>/*.bin and Test/<digit>/*.bin",
        True,
        _check_nmnist,
        True,
        class_names=lambda dataset: [str(digit) for digit in range(10)],
    ),
    EventDataset(
        "dvs-gesture",
        "DVSGesture",
        (128, 128, 2),
        128,
        "tonic's preprocessed DVS128 Gesture release (figshare 38022171, 38020584)",
        "ibmGestureTrain/user<NN>_<lighting>/<label>.npy and ibmGestureTest/…",
        True,
        _check_dvs_gesture,
        True,
        class_names=lambda dataset: list(dataset.classes),
        parallel_lists=("users", "lighting"),
    ),
    EventDataset(
        "cifar10-dvs",
        "CIFAR10DVS",
        (128, 128, 2),
        128,
        "tonic's AEDAT4 release of CIFAR10-DVS (Li et al. 2017; figshare 4724671 has the original)",
        "<class>/*.aedat4 for the ten CIFAR-10 classes",
        False,
        _check_cifar10_dvs,
        False,
        class_names=lambda dataset: CIFAR10_CLASSES,
    ),
    EventDataset(
        "ncaltech101",
        "NCALTECH101",
        (240, 180, 2),
        48,
        "https://www.garrickorchard.com/datasets/n-caltech101 (unzip Caltech101.zip inside the archive)",
        "Caltech101/<class>/*.bin",
        False,
        _check_ncaltech101,
        False,
        class_names=lambda dataset: sorted(set(dataset.targets)),  # tonic gives folder names
    ),
)


def check_layout(spec: EventDataset, root: str, split: str) -> None:
    """Check that the files tonic will read are there, before tonic (or a cache) is touched."""
    require(
        bool(root), "root", f"{spec.kind} needs data.root, the folder that holds {spec.tonic_name}/ (or `data_root`)"
    )
    folder = Path(root).expanduser() / spec.tonic_name
    if not folder.is_dir():
        raise _missing(folder, spec, "is missing")
    spec.check_files(folder, split, spec)


def _camera_split(
    spec: EventDataset,
    split,
    augment,
    timesteps,
    root,
    download,
    frame_size,
    window_ms,
    flip,
    roll,
    drop,
    nda,
    cache,
    cache_dir,
    split_seed,
) -> DatasetSplit:
    augmentation = frame_augmentation(flip, roll, drop, nda) if augment else None
    if not download:
        check_layout(spec, root, split)
    dataset = open_tonic(
        spec.tonic_name, root, download, **({"train": split == "train"} if spec.takes_train_flag else {})
    )
    sort_by_path(dataset, *spec.parallel_lists)
    class_names = spec.class_names(dataset)
    labels = [class_names.index(t) if isinstance(t, str) else int(t) for t in dataset.targets]
    indices = list(range(len(labels))) if spec.official_split else split_per_class(labels, split, split_seed)
    settings = {
        "timesteps": timesteps,
        "frame_size": frame_size,
        "window_ms": window_ms,
        "sensor_size": spec.sensor_size,
    }
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
        timesteps=timesteps,
        cache=cache,
        cache_dir=cache_dir,
        augment=augmentation,
    )


def _register_camera(spec: EventDataset):
    def build(
        split: Literal["train", "test"],
        augment: bool,
        timesteps: int,
        root: str = "",
        download: bool = False,
        # frames are only ever shrunk: at most the sensor's larger side
        frame_size: Annotated[int, Ge(4), Le(max(spec.sensor_size[:2]))] = spec.frame_size,
        window_ms: NonNegative = 0.0,
        flip: bool = False,
        roll: NonNegativeInt = 0,
        drop: Probability = 0.0,
        nda: bool = False,
        cache: bool = True,
        cache_dir: str = "",
        split_seed: NonNegativeInt = 0,
    ) -> DatasetSplit:
        """`{kind}`: recordings read by tonic's {tonic_name}, framed to [T, {polarities}, F, F].

        Args:
            split: "train" or "test"{split_note}.
            augment: apply the augmentations below (the engine turns them on for the training split).
            timesteps: T, the number of frames per sample.
            root: the folder that holds {tonic_name}/, with {layout} inside it.
            download: let tonic download the dataset into `root` when it is missing.
            frame_size: F, the side of the square frames in pixels, 4 to {largest}; the {width}×{height}
                sensor is downsampled to it (default {frame_size}).
            window_ms: 0 splits each recording into T equal bins; > 0 makes frames of that many
                milliseconds and keeps the first T (padding shorter recordings with empty frames).
            flip: mirror left-right with probability 1/2.
            roll: shift by up to ± this many pixels in x and y, wrapping around; 0 = off.
            drop: remove each event with this probability in [0, 1).
            nda: Li et al.'s neuromorphic data augmentation (a flip, then a roll, rotation or shear);
                replaces `flip` and `roll`.
            cache: keep the framed samples on disk (keyed by every setting that shapes a frame).
            cache_dir: the cache folder; "" means $XDG_CACHE_HOME/cfsnn/frames (~/.cache/cfsnn/frames).
            {split_seed}
        """
        return _camera_split(
            spec,
            split,
            augment,
            timesteps,
            root,
            download,
            frame_size,
            window_ms,
            flip,
            roll,
            drop,
            nda,
            cache,
            cache_dir,
            split_seed,
        )

    if build.__doc__:  # one text for every camera kind; None under python -OO
        width, height, polarities = spec.sensor_size
        official = spec.official_split
        build.__doc__ = build.__doc__.format(
            kind=spec.kind,
            tonic_name=spec.tonic_name,
            polarities=polarities,
            layout=spec.layout,
            largest=max(width, height),
            width=width,
            height=height,
            frame_size=spec.frame_size,
            split_note=" (the official split)" if official else " (a fixed 9:1 split of every class)",
            split_seed="" if official else "split_seed: seeds the fixed 9:1 split; the same seed gives the same split.",
        )
    if spec.official_split:
        # The recipe options are the signature: a dataset with an official split takes no split_seed.
        signature = inspect.signature(build)
        build.__signature__ = signature.replace(
            parameters=[p for name, p in signature.parameters.items() if name != "split_seed"]
        )
    build.__name__ = build.__qualname__ = spec.kind.replace("-", "_")
    polarities = spec.sensor_size[2]
    INPUT_SHAPES.register(spec.kind)(lambda frame_size=spec.frame_size, **_: (polarities, frame_size, frame_size))
    return DATASETS.register(spec.kind)(build)


for _spec in CAMERA_DATASETS:
    _register_camera(_spec)
