"""`shd`: the Spiking Heidelberg Digits, through tonic, framed like the camera datasets."""

from pathlib import Path
from typing import Annotated, Literal

from annotated_types import Ge, Le

from cfsnn_cli.data.base import DatasetSplit
from cfsnn_cli.data.event_augment import frame_augmentation
from cfsnn_cli.data.frames import event_framer, file_identity, framed_split
from cfsnn_cli.data.registry import DATASETS, INPUT_SHAPES
from cfsnn_cli.data.tonic_access import open_tonic
from cfsnn_cli.errors import CfsnnError, require
from cfsnn_cli.options import NonNegative, Probability

INPUT_SHAPES.register("shd")(lambda channels=700, **_: (1, channels))


@DATASETS.register("shd")
def shd(
    split: Literal["train", "test"],
    augment: bool,
    timesteps: int,
    root: str = "",
    download: bool = False,
    channels: Annotated[int, Ge(1), Le(700)] = 700,
    window_ms: NonNegative = 0.0,
    drop: Probability = 0.0,
    cache: bool = True,
    cache_dir: str = "",
) -> DatasetSplit:
    """Spiking Heidelberg Digits: 700 cochlea channels, 20 spoken digits (English and German).
    `channels` < 700 sums neighbouring channels (tonic's Downsample). Frames are [T, 1, channels].

    Args:
        split: "train" or "test", the official split.
        augment: apply `drop` (the engine turns it on for the training split).
        timesteps: T, the number of frames per sample.
        root: the folder that holds SHD/shd_train.h5 and SHD/shd_test.h5.
        download: let tonic download the files into `root` when they are missing.
        channels: the number of frequency channels kept, 1 to 700.
        window_ms: 0 splits each recording into T equal bins; > 0 makes frames of that many
            milliseconds and keeps the first T (padding shorter recordings with empty frames).
        drop: remove each event with this probability in [0, 1).
        cache: keep the framed samples on disk (keyed by every setting that shapes a frame).
        cache_dir: the cache folder; "" means $XDG_CACHE_HOME/cfsnn/frames (~/.cache/cfsnn/frames).
    """
    file = Path(root).expanduser() / "SHD" / f"shd_{split}.h5"
    if not download:
        require(bool(root), "root", "shd needs data.root, the folder that holds SHD/ (or `data_root`)")
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
        timesteps=timesteps,
        cache=cache,
        cache_dir=cache_dir,
        augment=frame_augmentation(False, 0, drop, False) if augment else None,
    )


def _check_shd_file(file: Path) -> None:
    source = "https://zenkelab.org/datasets/ (shd_train.h5.zip, shd_test.h5.zip, unzipped)"
    if not file.is_file():
        raise CfsnnError(
            "root",
            f"{file} is missing; shd expects shd_train.h5 and shd_test.h5 under {file.parent} — get them from {source}",
        )
    import h5py

    try:
        with h5py.File(file, "r") as handle:
            missing = [key for key in ("spikes/times", "spikes/units", "labels", "extra/keys") if key not in handle]
    except OSError as error:
        raise CfsnnError("root", f"{file} is not a readable HDF5 file ({error})") from None
    if missing:
        raise CfsnnError("root", f"{file} is partial: it lacks {', '.join(missing)}")
