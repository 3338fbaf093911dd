"""What every dataset kind hands the engine, and how batches become time-first sequences."""

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset


@dataclass
class DatasetSplit:
    """One split of a dataset kind.

    Samples are `(x, label)`; `x` is one static input of `input_shape` (repeated over time by the
    collate function: direct encoding), or, when `time_major` is true, a sequence [T, *input_shape].
    """

    dataset: Dataset
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: list[str]
    time_major: bool = False


class TimeFirstCollate:
    """Stack a batch and make it [T, B, ...]: static inputs are repeated T times (a view, no copy),
    sequences [B, T, ...] are transposed. The only place in cfsnn that moves the time axis."""

    def __init__(self, timesteps: int, time_major: bool):
        self.timesteps = timesteps
        self.time_major = time_major

    def __call__(self, samples):
        inputs = torch.stack([torch.as_tensor(x) for x, _ in samples])
        labels = torch.tensor([int(y) for _, y in samples])
        if self.time_major:
            return inputs.transpose(0, 1), labels
        return inputs.unsqueeze(0).expand(self.timesteps, *inputs.shape), labels
