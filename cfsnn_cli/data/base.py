"""What every dataset kind hands the engine, and how batches become time-first sequences."""

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset


@dataclass
class DatasetSplit:
    """One split of a dataset kind.

    Samples are `(x, label)`; `x` is one static input of `input_shape` (repeated over time by the
    collate function: direct encoding) or, when `samples_are_sequences`, a sequence
    [T, *input_shape].
    """

    dataset: Dataset
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: list[str]
    samples_are_sequences: bool = False


class TimeFirstCollate:
    """Stack a batch and make it [T, B, ...]: static inputs are repeated T times (a view, no copy),
    sequences [B, T, ...] are transposed. The only place in cfsnn that moves the time axis."""

    def __init__(self, timesteps: int, samples_are_sequences: bool):
        self.timesteps = timesteps
        self.samples_are_sequences = samples_are_sequences

    def __call__(self, samples):
        inputs = torch.stack([torch.as_tensor(x) for x, _ in samples])
        labels = torch.tensor([int(y) for _, y in samples])
        if self.samples_are_sequences:
            return inputs.transpose(0, 1), labels
        return inputs.unsqueeze(0).expand(self.timesteps, *inputs.shape), labels
