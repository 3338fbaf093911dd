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

    Attributes:
        dataset: a map-style dataset of `(x, label)` samples, labels in 0..num_classes − 1.
        num_classes: K, the number of classes.
        input_shape: one step's input shape without batch and time, e.g. (2, 34, 34).
        class_names: K names, in label order; checkpoints carry them.
        samples_are_sequences: whether each x already has its T steps (event frames).
    """

    dataset: Dataset
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: list[str]
    samples_are_sequences: bool = False


class TimeFirstCollate:
    """Stack a batch and make it [T, B, ...]: static inputs are repeated T times (a view, no copy),
    sequences [B, T, ...] are transposed. The only place in cfsnn that moves the time axis.

    Args:
        timesteps: T, how many times a static input is repeated; unused for sequences.
        samples_are_sequences: whether the samples are [T, ...] sequences (`DatasetSplit`'s flag).
    """

    def __init__(self, timesteps: int, samples_are_sequences: bool):
        self.timesteps = timesteps
        self.samples_are_sequences = samples_are_sequences

    def __call__(self, samples):
        """(x_seq [T, B, ...], labels [B]) from a list of `(x, label)` samples."""
        inputs = torch.stack([torch.as_tensor(x) for x, _ in samples])
        labels = torch.tensor([int(y) for _, y in samples])
        if self.samples_are_sequences:
            return inputs.transpose(0, 1), labels
        return inputs.unsqueeze(0).expand(self.timesteps, *inputs.shape), labels
