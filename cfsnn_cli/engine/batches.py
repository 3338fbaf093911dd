"""Shuffled batches that a resumed run can pick up mid-epoch, in exactly the same order, with
exactly the same augmentation draws, whichever worker process loads them."""

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

# Independent random streams of one run: each gets its own seeds so they never draw alike.
SHUFFLE, SAMPLES, WORKERS = 0, 1, 2


def derived_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from small integers (run seed, epoch, stream, position)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(2, dtype=np.uint32).astype(np.uint64) @ np.array([1 << 31, 1], dtype=np.uint64))


class EpochBatches(Sampler[list]):
    """Batches of one epoch: a permutation drawn from (seed, epoch) alone, so the order never
    depends on what ran before; `start` skips the batches an interrupted run already took.

    With `seeded`, each entry is (index, sample seed): the seed of the sample's augmentation,
    fixed by its position in the epoch (see SeededSamples)."""

    def __init__(self, size: int, batch_size: int, shuffle: bool, seed: int, epoch: int, start: int = 0, seeded: bool = False):
        self.size = size
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch
        self.start = start
        self.seeded = seeded

    def __len__(self) -> int:
        return max(0, -(-self.size // self.batch_size) - self.start)

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch, SHUFFLE))
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        for first in range(self.start * self.batch_size, self.size, self.batch_size):
            positions = range(first, min(first + self.batch_size, self.size))
            if self.seeded:
                yield [(order[p], derived_seed(self.seed, self.epoch, SAMPLES, p)) for p in positions]
            else:
                yield [order[p] for p in positions]


class SeededSamples(Dataset):
    """Loads sample `index` with torch's generator seeded from the batch sampler, then restores the
    generator: augmentation no longer depends on which process loads a sample or what ran before."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, entry):
        index, seed = entry
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dataset[index]
