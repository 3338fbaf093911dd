"""The embedded event default: an emulated event camera watching the bundled digits."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cfsnn_cli.data import DATASETS
from cfsnn_cli.data.digits import digits_arrays
from cfsnn_cli.data.digits_events import SENSOR, emulate_events

CFSNN = str(Path(sys.executable).parent / "cfsnn")
RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "digits-events.toml"


def test_events_are_tonic_style_sorted_bipolar_and_reproducible():
    image = digits_arrays("train")[0][0]
    events = emulate_events(image, seed=5, contrast=0.15)
    assert events.dtype.names == ("x", "y", "t", "p")
    assert np.all(np.diff(events["t"]) >= 0) and events["t"].max() < 300_000
    assert 0 <= events["x"].min() and events["x"].max() < SENSOR and events["y"].max() < SENSOR
    assert 0.3 < events["p"].mean() < 0.7  # both ON and OFF
    again = emulate_events(image, seed=5, contrast=0.15)
    assert np.array_equal(events, again)
    assert len(emulate_events(image, seed=5, contrast=0.3)) < len(events)  # a higher threshold fires less


def test_events_follow_the_strokes():
    """Events land where the digit's edges are: a blank image makes none."""
    assert len(emulate_events(np.zeros((8, 8)), seed=0, contrast=0.15)) == 0
    assert len(emulate_events(digits_arrays("train")[0][0], seed=0, contrast=0.15)) > 1000


def test_frames_through_the_real_datasets_path(tmp_path):
    split = DATASETS.get("digits-events")("test", augment=False, timesteps=5, frame_size=17, cache_dir=str(tmp_path))
    frames, label = split.dataset[3]
    assert frames.shape == (5, 2, 17, 17) and split.input_shape == (2, 17, 17)
    assert label == int(digits_arrays("test")[1][3]) and len(split.dataset) == 360
    assert list(tmp_path.rglob("*.npy"))  # cached like the recorded datasets


@pytest.mark.slow
def test_the_shipped_recipe_reaches_90_percent(tmp_path):
    """`cfsnn train recipes/digits-events.toml`, as a researcher types it (about two minutes)."""
    out = tmp_path / "run"
    command = [CFSNN, "train", str(RECIPE), "--set", f"data.cache_dir='{tmp_path / 'cache'}'", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    final = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    print(f"digits-events: test accuracy {final['test_accuracy']:.4f} after {final['epoch']} epochs")
    assert final["test_accuracy"] >= 0.90


def test_fixed_windows_frame_real_time_and_keep_the_first_T(tmp_path):
    build = DATASETS.get("digits-events")
    binned = build("test", augment=False, timesteps=8, frame_size=17, cache=False)
    windowed = build("test", augment=False, timesteps=8, frame_size=17, window_ms=10.0, cache=False)
    covering = build("test", augment=False, timesteps=16, frame_size=17, window_ms=20.0, cache=False)
    all_events = int(binned.dataset[0][0].sum())
    assert windowed.dataset[0][0].shape == (8, 2, 17, 17)
    assert 0 < int(windowed.dataset[0][0].sum()) < all_events / 2  # 80 ms of the 300 ms recording
    # 16 windows of 20 ms span the recording; tonic leaves out the last window if it is incomplete
    assert 0.9 * all_events < int(covering.dataset[0][0].sum()) <= all_events
