"""Shuffled batches that a resumed run can pick up mid-epoch, in exactly the same order, with
exactly the same augmentation draws, whichever worker process loads them — and, under torchrun,
whichever training process (engine/distributed.py) takes its share of them."""

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

# Independent random streams of one run: each gets its own seeds so they never draw alike.
SHUFFLE_STREAM, SAMPLES_STREAM, WORKERS_STREAM, PROCESSES_STREAM = 0, 1, 2, 3


def derived_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from small integers (run seed, epoch, stream)."""
    high, low = np.random.SeedSequence(list(parts)).generate_state(2, dtype=np.uint32)
    return (int(high) << 31) ^ int(low)


def nth_seed(base: int, n: int) -> int:
    """The n-th seed of a stream: splitmix64 of base + n, cheap enough to call per sample."""
    z = (base + 0x9E3779B97F4A7C15 * (n + 1)) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) >> 1


class EpochBatches(Sampler[list]):
    """Batches of one epoch: a permutation drawn from (seed, epoch) alone, so the order never
    depends on what ran before; `start` skips the batches an interrupted run already took.

    With `seeded`, each entry is (index, sample seed): the seed of the sample's augmentation,
    fixed by its position in the epoch (see SeededSamples).

    With `ranks` > 1, process `rank` gets its contiguous share of every batch (the shares of the
    processes differ in size by one at most): together they take the one-process batches, sample
    for sample and draw for draw."""

    def __init__(
        self,
        size: int,
        batch_size: int,
        shuffle: bool,
        seed: int,
        epoch: int,
        start: int = 0,
        seeded: bool = False,
        rank: int = 0,
        ranks: int = 1,
    ):
        self.size = size
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch
        self.start = start
        self.seeded = seeded
        self.rank = rank
        self.ranks = ranks

    def __len__(self) -> int:
        return max(0, -(-self.size // self.batch_size) - self.start)

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch, SHUFFLE_STREAM))
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        samples_base = derived_seed(self.seed, self.epoch, SAMPLES_STREAM)
        for first in range(self.start * self.batch_size, self.size, self.batch_size):
            positions = self.share(first, min(first + self.batch_size, self.size))
            if self.seeded:
                yield [(order[p], nth_seed(samples_base, p)) for p in positions]
            else:
                yield [order[p] for p in positions]

    def share(self, first: int, end: int) -> range:
        """This process's positions of the batch at positions [first, end) of the epoch."""
        each, left = divmod(end - first, self.ranks)
        start = first + self.rank * each + min(self.rank, left)
        return range(start, start + each + (self.rank < left))

    def smallest_share(self) -> int:
        """The fewest samples a process gets in one batch (that of the epoch's last batch)."""
        last = self.size - (-(-self.size // self.batch_size) - 1) * self.batch_size
        return min(self.batch_size, last) // self.ranks


class BatchesDealtToRank(Sampler[list]):
    """Every `ranks`-th batch of `batches`, from the `rank`-th: whole batches dealt round the
    processes, for evaluation, where the batch size changes no number."""

    def __init__(self, batches: Sampler[list], rank: int, ranks: int):
        self.batches, self.rank, self.ranks = batches, rank, ranks

    def __len__(self) -> int:
        return max(0, -(-(len(self.batches) - self.rank) // self.ranks))

    def __iter__(self):
        for index, batch in enumerate(self.batches):
            if index % self.ranks == self.rank:
                yield batch


class SeededSamples(Dataset):
    """Loads sample `index` with torch's generator seeded from the batch sampler, then restores the
    generator: augmentation no longer depends on which process loads a sample or what ran before."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, entry):
        index, seed = entry
        # The CPU generator alone: augmentations run on the CPU, and torch.manual_seed would also
        # visit every accelerator backend, costing 50 times as much per sample.
        generator = torch.default_generator
        saved = generator.get_state()
        generator.manual_seed(seed)
        try:
            return self.dataset[index]
        finally:
            generator.set_state(saved)
