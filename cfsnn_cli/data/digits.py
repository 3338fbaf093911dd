"""scikit-learn's bundled handwritten digits: 1797 real 8×8 images, 10 classes, fully offline."""

from typing import Literal

import torch
from torch.utils.data import TensorDataset

from cfsnn_cli.data.base import DatasetSplit
from cfsnn_cli.data.registry import DATASETS, INPUT_SHAPES

# The split is part of the dataset's definition, not of a run: fixed, stratified, 80/20.
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def digits_arrays(split: Literal["train", "test"]):
    """(images [N, 8, 8] in [0, 1], labels [N]) of the fixed split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images / 16.0
    train_x, test_x, train_y, test_y = train_test_split(
        images, bunch.target, test_size=TEST_FRACTION, stratify=bunch.target, random_state=SPLIT_SEED
    )
    return (train_x, train_y) if split == "train" else (test_x, test_y)


INPUT_SHAPES.register("digits")(lambda **_: (1, 8, 8))


@DATASETS.register("digits")
def digits(split: Literal["train", "test"]) -> DatasetSplit:
    """scikit-learn's 8×8 handwritten digits as [1, 8, 8] images in [0, 1], offline; no options.

    Args:
        split: "train" (1437 images) or "test" (360), a fixed stratified 80/20 split (seed 0).
    """
    images, labels = digits_arrays(split)
    inputs = torch.tensor(images, dtype=torch.float32).unsqueeze(1)  # [N, 1, 8, 8]
    return DatasetSplit(
        dataset=TensorDataset(inputs, torch.tensor(labels)),
        num_classes=10,
        input_shape=(1, 8, 8),
        class_names=[str(d) for d in range(10)],
    )
