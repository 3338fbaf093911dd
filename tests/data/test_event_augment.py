import pytest
import torch

from cfsnn_cli.data.event_augment import drop, frame_augmentation, nda, roll


def frames():
    return torch.randint(0, 5, (4, 2, 16, 16)).float()


def test_roll_moves_without_losing_events():
    x = frames()
    shifts = set()
    for seed in range(20):
        torch.manual_seed(seed)
        rolled = roll(x, 3)
        assert rolled.sum() == x.sum() and rolled.shape == x.shape
        # the frames moved as a whole, by at most 3 pixels each way, wrapping around
        found = [
            (dy, dx) for dy in range(-3, 4) for dx in range(-3, 4) if torch.equal(rolled, x.roll((dy, dx), (-2, -1)))
        ]
        assert len(found) == 1
        shifts |= set(found)
    assert len(shifts) > 5  # drawn anew each call, not an identity


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
    changed = 0
    for seed in range(20):
        torch.manual_seed(seed)
        out = nda(x)
        assert out.shape == x.shape
        changed += not torch.equal(out, x)
    assert changed >= 18  # an identity would change nothing


def test_nothing_asked_means_no_augmentation():
    assert frame_augmentation(False, 0, 0.0, False) is None
