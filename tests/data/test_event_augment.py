import pytest
import torch

from cfsnn_cli.data.event_augment import drop, frame_augmentation, nda, roll


def frames():
    return torch.randint(0, 5, (4, 2, 16, 16)).float()


def test_roll_moves_without_losing_events():
    x = frames()
    torch.manual_seed(1)
    rolled = roll(x, 3)
    assert rolled.sum() == x.sum() and rolled.shape == x.shape


def test_drop_thins_counts_like_dropping_events():
    x = torch.full((8, 2, 32, 32), 10.0)
    torch.manual_seed(0)
    kept = drop(x, 0.3)
    assert torch.all(kept <= x) and kept.sum() / x.sum() == pytest.approx(0.7, abs=0.01)
    assert torch.equal(kept, kept.round())


def test_nda_keeps_shape_and_draws_from_torchs_generator():
    x = frames()
    torch.manual_seed(7)
    first = nda(x)
    torch.manual_seed(7)
    assert torch.equal(nda(x), first) and first.shape == x.shape


def test_nothing_asked_means_no_augmentation():
    assert frame_augmentation(False, 0, 0.0, False) is None
