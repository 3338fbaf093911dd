"""`sequential-digits`: the bundled digits as sequences, row by row or pixel by pixel."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cfsnn_cli.data import DATASETS, TimeFirstCollate
from cfsnn_cli.data.digits import digits_arrays
from cfsnn_cli.data.sequential_digits import PERMUTATION_SEED
from cfsnn_cli.errors import CfsnnError

CFSNN = str(Path(sys.executable).parent / "cfsnn")
RECIPES = Path(__file__).resolve().parents[2] / "recipes"
build = DATASETS.get("sequential-digits")


def test_rows_are_the_images_rows_one_per_step():
    images, labels = digits_arrays("test")
    split = build("test", timesteps=8)
    x, label = split.dataset[5]
    assert split.samples_are_sequences and split.input_shape == (8,) and len(split.dataset) == 360
    assert x.shape == (8, 8) and torch.equal(x, torch.tensor(images[5], dtype=torch.float32))
    assert int(label) == labels[5]


def test_pixels_in_reading_order_and_one_fixed_permutation_for_every_split():
    permutation = torch.tensor(np.random.default_rng(PERMUTATION_SEED).permutation(64))
    assert not torch.equal(permutation, torch.arange(64))
    for split in ("train", "test"):
        images, _ = digits_arrays(split)
        plain = build(split, timesteps=64, order="pixels").dataset[0][0]
        permuted = build(split, timesteps=64, order="pixels", permuted=True).dataset[0][0]
        assert plain.shape == permuted.shape == (64, 1)
        assert torch.equal(plain[:, 0], torch.tensor(images[0].reshape(-1), dtype=torch.float32))
        assert torch.equal(permuted, plain[permutation])


def test_batches_are_time_first():
    split = build("test", timesteps=8)
    x_seq, _ = TimeFirstCollate(8, split.samples_are_sequences)([split.dataset[i] for i in range(3)])
    assert x_seq.shape == (8, 3, 8) and torch.equal(x_seq[:, 1], split.dataset[1][0])


@pytest.mark.parametrize(
    "options,field",
    [
        ({"timesteps": 4}, "timesteps"),
        ({"timesteps": 8, "order": "pixels"}, "timesteps"),
        ({"timesteps": 8, "permuted": True}, "permuted"),
    ],
)
def test_settings_that_do_not_fit_are_refused_by_field(options, field):
    with pytest.raises(CfsnnError) as caught:
        build("train", **options)
    assert caught.value.field == field


def test_the_recipes_train_and_a_wrong_T_is_one_line_naming_the_field(tmp_path):
    run = subprocess.run(
        [
            CFSNN,
            "train",
            str(RECIPES / "sequential-digits.toml"),
            "--set",
            "train.epochs=1",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    wrong = subprocess.run(
        [
            CFSNN,
            "train",
            str(RECIPES / "sequential-digits.toml"),
            "--set",
            "data.timesteps=4",
            "--out",
            str(tmp_path / "w"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert wrong.returncode == 2 and "timesteps" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "w").exists()
