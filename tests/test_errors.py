"""The error family survives the trip back from a DataLoader worker process."""

import pytest
from torch.utils.data import DataLoader, Dataset

from cfsnn_cli.errors import CfsnnError


class Refuses(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        raise CfsnnError("timesteps", "a frame bin overflowed")


def test_an_error_raised_in_a_worker_comes_back_as_the_same_one_line_error():
    loader = DataLoader(Refuses(), batch_size=2, num_workers=1, multiprocessing_context="fork")
    with pytest.raises(CfsnnError) as caught:
        next(iter(loader))
    assert caught.value.field == "timesteps" and caught.value.problem == "a frame bin overflowed"


def test_an_error_names_its_file_when_it_has_one():
    assert str(CfsnnError("neuron.tau", "must be >= 1", "my.toml")) == "my.toml: neuron.tau: must be >= 1"
    assert str(CfsnnError("neuron.tau", "must be >= 1").within("x")) == "x.neuron.tau: must be >= 1"
