import pytest
import torch
from torch.nn import functional as F

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.losses import Objective, balance_loss
from cfsnn_cli.neurons import CFNeuron, observe


def _logits():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(4, 6, 10, generator=generator), torch.randint(0, 10, (6,), generator=generator)


def test_ce_is_cross_entropy_of_the_time_average():
    logits, y = _logits()
    parts = Objective("ce", label_smoothing=0.1)(logits, y)
    assert torch.allclose(parts.total, F.cross_entropy(logits.mean(0), y, label_smoothing=0.1))
    assert parts.balance is None


def test_tet_is_the_published_blend_of_per_step_losses_and_the_mse_anchor():
    # Deng et al.'s code: (1 - lamb) * Loss_es + lamb * Loss_mmd
    logits, y = _logits()
    per_step = torch.stack([F.cross_entropy(logits[t], y, label_smoothing=0.1) for t in range(4)]).mean()
    mse = ((logits - 1) ** 2).mean()
    got = Objective("tet", label_smoothing=0.1, tet_lambda=0.05)(logits, y).total
    assert torch.allclose(got, 0.95 * per_step + 0.05 * mse)
    assert not torch.allclose(got, Objective("ce")(logits, y).total)


def test_balance_adds_lambda_times_pn():
    logits, y = _logits()
    neuron = CFNeuron()
    with observe() as seen:
        neuron(torch.rand(4, 6, 10) + 0.2)
    parts = Objective("ce", balance=0.3)(logits, y, seen)
    assert torch.allclose(parts.total, parts.task + 0.3 * balance_loss(seen.layers))
    assert parts.balance > 0


@pytest.mark.parametrize(
    "options,field",
    [
        ({"balance": -1.0}, "balance"),
        ({"granularity": "neuron"}, "granularity"),
        ({"kind": "hinge"}, "kind"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"kind": "tet", "tet_lambda": -0.1}, "tet_lambda"),
        ({"kind": "tet", "tet_lambda": 1.0}, "tet_lambda"),
    ],
)
def test_bad_loss_options_name_the_field(options, field):
    with pytest.raises(CfsnnError) as caught:
        Objective(**options)
    assert caught.value.field == field


def test_balance_without_observations_is_a_clear_error():
    logits, y = _logits()
    with pytest.raises(CfsnnError, match="observe"):
        Objective(balance=0.1)(logits, y)
