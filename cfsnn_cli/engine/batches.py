"""Shuffled batches that a resumed run can pick up mid-epoch, in exactly the same order."""

import torch
from torch.utils.data import Sampler


class EpochBatches(Sampler[list[int]]):
    """Batches of indices for one epoch: a permutation drawn from (seed, epoch) alone, so the order
    never depends on what ran before; `start` skips the batches an interrupted run already took."""

    def __init__(self, size: int, batch_size: int, shuffle: bool, seed: int, epoch: int, start: int = 0):
        self.size = size
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch
        self.start = start

    def __len__(self) -> int:
        return max(0, -(-self.size // self.batch_size) - self.start)

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        for first in range((self.start * self.batch_size), self.size, self.batch_size):
            yield order[first : first + self.batch_size]
