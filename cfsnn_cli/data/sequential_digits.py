"""`sequential-digits`: scikit-learn's bundled 8×8 digits presented over time, offline.

The same 1797 real images and fixed split as `digits`, but a network sees one part of the image
per step and must carry what it saw across steps to classify it (the embedded counterpart of
sequential and permuted MNIST):

- `order = "rows"`: one row per step, T = 8 steps of 8 inputs. A network needs memory of about a
  digit's height; a leaky membrane alone carries some of it.
- `order = "pixels"`: one pixel per step in reading order, T = 64 steps of 1 input. The class is
  in how the 64 values follow each other; the evidence arrives over 64 steps.
- `permuted = true` (pixels only): one fixed permutation of the 64 positions (seed 0, the same
  for every run and split), so that neighbouring steps are no longer neighbouring pixels and
  memory over the whole sequence is needed.
"""

from typing import Literal

import numpy as np
import torch
from torch.utils.data import TensorDataset

from cfsnn_cli.data.base import DatasetSplit
from cfsnn_cli.data.digits import digits_arrays
from cfsnn_cli.data.registry import DATASETS, INPUT_SHAPES
from cfsnn_cli.errors import require

PERMUTATION_SEED = 0
Order = Literal["rows", "pixels"]


def sequence_shape(order: Order) -> tuple[int, int]:
    """(T, inputs per step) of an order."""
    return (8, 8) if order == "rows" else (64, 1)


INPUT_SHAPES.register("sequential-digits")(lambda order="rows", **_: sequence_shape(order)[1:])


@DATASETS.register("sequential-digits")
def sequential_digits(
    split: Literal["train", "test"], timesteps: int, order: Order = "rows", permuted: bool = False
) -> DatasetSplit:
    """The 8×8 digits as sequences [T, inputs] in [0, 1]: rows (T = 8 × 8) or pixels (T = 64 × 1).

    Args:
        split: "train" (1437 images) or "test" (360), the `digits` split.
        timesteps: T of the recipe, which must be the order's length (8 for rows, 64 for pixels).
        order: "rows" (one row per step) or "pixels" (one pixel per step, in reading order).
        permuted: present the pixels in one fixed random order (seed 0); pixels only.
    """
    steps, inputs_per_step = sequence_shape(order)
    require(
        timesteps == steps,
        "timesteps",
        f"sequential-digits with order = {order!r} has {steps} steps; set data.timesteps = {steps} (got {timesteps})",
    )
    require(not permuted or order == "pixels", "permuted", "only the pixels order is permuted (set order = 'pixels')")
    images, labels = digits_arrays(split)
    sequences = images.reshape(len(images), steps, inputs_per_step)
    if permuted:
        sequences = sequences[:, np.random.default_rng(PERMUTATION_SEED).permutation(steps)]
    return DatasetSplit(
        dataset=TensorDataset(torch.tensor(sequences, dtype=torch.float32), torch.tensor(labels)),
        num_classes=10,
        input_shape=(inputs_per_step,),
        class_names=[str(d) for d in range(10)],
        samples_are_sequences=True,
    )
