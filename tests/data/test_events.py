"""Event datasets: tiny copies in the real formats, read by tonic's real classes, framed, cached,
batched time-first — with the network blocked (see tests/conftest.py)."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from tonic.io import read_aedat4

from cfsnn_cli.data import DATASETS, TimeFirstCollate
from cfsnn_cli.data.events import split_per_class
from cfsnn_cli.errors import CfsnnError
from tests.data.event_fixtures import (
    aedat4_bytes,
    random_events,
    write_cifar10_dvs,
    write_dvs_gesture,
    write_ncaltech101,
    write_nmnist,
    write_shd,
)

T = 6
# kind → (writer, per-step input shape, classes, train size, test size)
DATASETS_ON_DISK = {
    "nmnist": (write_nmnist, (2, 34, 34), 10, 20, 20),
    "dvs-gesture": (write_dvs_gesture, (2, 128, 128), 11, 22, 11),
    "cifar10-dvs": (write_cifar10_dvs, (2, 128, 128), 10, 90, 10),
    "ncaltech101": (write_ncaltech101, (2, 48, 48), 3, 27, 3),
    "shd": (write_shd, (1, 700), 20, 6, 6),
}


def load(kind, root, split, **options):
    return DATASETS.get(kind)(
        split,
        augment=split == "train",
        timesteps=options.pop("timesteps", T),
        root=str(root),
        cache_dir=str(root / "cache"),
        **options,
    )


@pytest.mark.parametrize("kind", list(DATASETS_ON_DISK))
def test_real_format_loads_into_time_first_batches(tmp_path, kind):
    writer, shape, classes, train_size, test_size = DATASETS_ON_DISK[kind]
    writer(tmp_path)
    train, test = load(kind, tmp_path, "train"), load(kind, tmp_path, "test")
    assert (len(train.dataset), len(test.dataset)) == (train_size, test_size)
    assert train.input_shape == shape and train.num_classes == classes and train.samples_are_sequences
    samples = [train.dataset[i] for i in range(4)]
    x_seq, labels = TimeFirstCollate(T, samples_are_sequences=True)(samples)
    assert x_seq.shape == (T, 4, *shape) and x_seq.dtype == torch.float32
    assert labels.dtype == torch.int64 and labels.tolist() == [label for _, label in samples]
    assert all(0 <= label < classes for _, label in samples)
    assert x_seq.sum() > 0 and (x_seq >= 0).all()


def test_frames_count_the_events(tmp_path):
    write_nmnist(tmp_path, events=400)
    frames, _ = load("nmnist", tmp_path, "train", timesteps=1).dataset[0]
    # one bin spans the recording; tonic's integer bin width may leave out the very last event
    assert 399 <= frames.sum() <= 400


def test_nmnist_labels_follow_the_digit_folders(tmp_path):
    write_nmnist(tmp_path, per_class=1)
    split = load("nmnist", tmp_path, "test")
    assert [split.dataset[i][1] for i in range(10)] == list(range(10))  # sorted by path


def test_dvs_gesture_order_is_sorted_whatever_the_file_system_says(tmp_path):
    write_dvs_gesture(tmp_path)  # user02 is written before user01
    split = load("dvs-gesture", tmp_path, "train")
    events_dataset = split.dataset
    first_labels = [events_dataset[i][1] for i in range(11)]
    assert first_labels == [0, 1, 10, 2, 3, 4, 5, 6, 7, 8, 9]  # user01's files in path order
    assert len(split.class_names) == 11


def test_own_split_is_nine_to_one_per_class_disjoint_and_fixed():
    labels = [c for c in range(4) for _ in range(20)]
    train, test = split_per_class(labels, "train", 0), split_per_class(labels, "test", 0)
    assert not set(train) & set(test) and sorted(train + test) == list(range(80))
    assert [sum(labels[i] == c for i in test) for c in range(4)] == [2, 2, 2, 2]
    assert split_per_class(labels, "test", 0) == test
    assert split_per_class(labels, "test", 1) != test


def test_ncaltech_string_labels_become_sorted_integers(tmp_path):
    write_ncaltech101(tmp_path)
    split = load("ncaltech101", tmp_path, "train")
    assert split.class_names == ["Faces_easy", "airplanes", "watch"]
    assert sorted({split.dataset[i][1] for i in range(len(split.dataset))}) == [0, 1, 2]


def test_aedat4_writer_round_trips_through_the_aedat_reader(tmp_path):
    rng = np.random.default_rng(3)
    x, y, t, p = random_events(rng, 700, 128, 128, 1_000_000)
    path = tmp_path / "sample.aedat4"
    path.write_bytes(aedat4_bytes(x, y, t, p))
    events = read_aedat4(str(path))
    assert np.array_equal(events["t"], t) and np.array_equal(events["x"], x) and np.array_equal(events["y"], y)
    assert np.array_equal(events["on"].astype(int), p)


def test_downsampling_keeps_every_event(tmp_path):
    write_dvs_gesture(tmp_path)
    full = load("dvs-gesture", tmp_path, "test", timesteps=2).dataset[0][0]
    small = load("dvs-gesture", tmp_path, "test", timesteps=2, frame_size=48).dataset[0][0]
    assert small.shape == (2, 2, 48, 48) and small.sum() == full.sum()


def test_time_window_framing_pads_to_T(tmp_path):
    write_nmnist(tmp_path)  # recordings of 300 ms
    frames = load("nmnist", tmp_path, "train", timesteps=10, window_ms=50).dataset[0][0]
    assert frames.shape[0] == 10 and frames[6:].sum() == 0 and frames[:5].sum() > 0


# -- missing and partial data ---------------------------------------------------------------------


def _remove(path):
    for child in sorted(path.rglob("*"), reverse=True):
        child.unlink() if child.is_file() else child.rmdir()
    path.rmdir()


PARTIAL = {
    "nmnist": (
        write_nmnist,
        lambda root: _remove(root / "NMNIST" / "Train" / "7"),
        "NMNIST/Train is partial: no *.bin files for 7",
    ),
    "dvs-gesture": (
        write_dvs_gesture,
        lambda root: _remove(root / "DVSGesture" / "ibmGestureTrain"),
        "ibmGestureTrain is missing",
    ),
    "cifar10-dvs": (
        write_cifar10_dvs,
        lambda root: _remove(root / "CIFAR10DVS" / "frog"),
        "CIFAR10DVS is partial: no *.aedat4 files for frog",
    ),
    "ncaltech101": (
        write_ncaltech101,
        lambda root: _remove(root / "NCALTECH101" / "Caltech101"),
        "Caltech101 is missing",
    ),
    "shd": (write_shd, lambda root: (root / "SHD" / "shd_train.h5").unlink(), "shd_train.h5 is missing"),
}


@pytest.mark.parametrize("kind", list(PARTIAL))
def test_partial_data_is_one_clear_error_and_leaves_no_cache(tmp_path, kind):
    writer, damage, words = PARTIAL[kind]
    writer(tmp_path)
    damage(tmp_path)
    with pytest.raises(CfsnnError) as caught:
        load(kind, tmp_path, "train")
    assert caught.value.field == "root" and words in caught.value.problem
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("kind", list(PARTIAL))
def test_missing_data_names_the_folder(tmp_path, kind):
    with pytest.raises(CfsnnError, match="is missing") as caught:
        load(kind, tmp_path, "test")
    assert str(tmp_path) in caught.value.problem
    assert os.listdir(tmp_path) == []  # nothing created, nothing downloaded


def test_a_download_is_never_attempted(tmp_path):
    """tonic's own class goes to the network for a copy without its archive; cfsnn's never does."""
    import tonic

    from tests.conftest import NetworkBlocked

    write_nmnist(tmp_path)
    with pytest.raises(NetworkBlocked):
        tonic.datasets.NMNIST(str(tmp_path), train=True)
    assert len(load("nmnist", tmp_path, "train").dataset) == 20


# -- the cache -------------------------------------------------------------------------------------


def _cache_folders(root):
    return sorted(p.relative_to(root / "cache") for p in (root / "cache").glob("*/*") if p.is_dir())


def test_cache_is_reused_for_the_same_settings_and_rebuilt_for_new_ones(tmp_path):
    write_nmnist(tmp_path)
    first = load("nmnist", tmp_path, "train").dataset
    first_frames = first[0][0]
    [folder] = _cache_folders(tmp_path)
    cached = next((tmp_path / "cache" / folder).glob("*.npy"))
    written = cached.stat().st_mtime_ns
    again = load("nmnist", tmp_path, "train").dataset
    assert torch.equal(again[0][0], first_frames) and cached.stat().st_mtime_ns == written
    assert _cache_folders(tmp_path) == [folder]

    load("nmnist", tmp_path, "train", timesteps=T + 2).dataset[0]
    load("nmnist", tmp_path, "train", frame_size=17).dataset[0]
    assert len(_cache_folders(tmp_path)) == 3
    assert load("nmnist", tmp_path, "train", frame_size=17).dataset[0][0].shape == (T, 2, 17, 17)


def test_a_changed_source_file_is_framed_again(tmp_path):
    write_nmnist(tmp_path)
    dataset = load("nmnist", tmp_path, "test").dataset
    before = dataset[0][0]
    source = tmp_path / "NMNIST" / "Test" / "0" / "00000.bin"
    source.write_bytes(source.read_bytes()[: 5 * 100])  # keep only 100 events
    assert load("nmnist", tmp_path, "test").dataset[0][0].sum() < before.sum()


def test_cache_files_are_plain_npy(tmp_path):
    write_nmnist(tmp_path)
    load("nmnist", tmp_path, "test").dataset[0]
    [cached] = list((tmp_path / "cache").rglob("*.npy"))
    assert np.load(cached, allow_pickle=False).dtype == np.int16
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_the_cache_renames_whole_files_into_place_without_fsync(tmp_path, monkeypatch):
    """A frame is rebuildable: it is written whole through a rename (a reader never sees half a
    file) but not fsynced, which checkpoints keep (tests/test_atomic.py)."""
    from cfsnn_cli import atomic

    synced, renamed = [], []
    real_replace = atomic.os.replace

    def replace(source, target):
        renamed.append((Path(target), Path(source).read_bytes()))  # what the rename makes visible
        assert not Path(target).exists()  # nothing was written in place before it
        real_replace(source, target)

    monkeypatch.setattr(atomic.os, "fsync", synced.append)
    monkeypatch.setattr(atomic.os, "replace", replace)
    write_nmnist(tmp_path)
    frames = load("nmnist", tmp_path, "test").dataset[0][0]
    assert synced == []
    by_name = {target.name: contents for target, contents in renamed}
    [npy] = [name for name in by_name if name.endswith(".npy")]
    assert set(by_name) == {npy, "settings.json"}
    cached = next((tmp_path / "cache").rglob(npy))
    assert cached.read_bytes() == by_name[npy]
    assert torch.equal(torch.from_numpy(np.load(cached, allow_pickle=False).astype(np.float32)), frames)
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_cifar10_dvs_without_the_aedat_reader_says_what_to_install(tmp_path, monkeypatch):
    import importlib.util

    write_cifar10_dvs(tmp_path, per_class=1)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "aedat" else real_find_spec(name, *a)
    )
    with pytest.raises(CfsnnError, match="pip install aedat"):
        load("cifar10-dvs", tmp_path, "train")


def test_an_empty_cache_file_left_by_a_crash_is_framed_again(tmp_path):
    """Without fsync, a machine crash can leave a cached frame empty under its final name."""
    write_nmnist(tmp_path)
    frames = load("nmnist", tmp_path, "test").dataset[0][0]
    [cached] = list((tmp_path / "cache").rglob("*.npy"))
    cached.write_bytes(b"")
    assert torch.equal(load("nmnist", tmp_path, "test").dataset[0][0], frames)
