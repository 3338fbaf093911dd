"""The positive-negative balanced term: the properties the method relies on."""

import torch

from cfsnn_cli.losses import balance_loss
from cfsnn_cli.neurons import CFNeuron, observe


def _pn(x_seq, neuron=None, granularity="layer"):
    neuron = neuron or CFNeuron(tau=2.0, levels=2)
    with observe() as seen:
        neuron(x_seq)
    return balance_loss(seen.layers, granularity)


def _symmetric_batch():
    x = torch.randn(6, 8, 4, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    return torch.cat([x, -x], dim=1)  # the bipolar CF neuron is odd, so H is exactly symmetric


def test_zero_for_a_symmetric_distribution():
    assert _pn(_symmetric_batch()).item() < 1e-20
    assert _pn(_symmetric_batch(), granularity="channel").item() < 1e-20


def test_grows_with_imbalance():
    x = _symmetric_batch()
    losses = [_pn(x + shift).item() for shift in (0.0, 0.2, 0.5, 1.0, 3.0)]
    assert losses == sorted(losses) and losses[0] < losses[1] and losses[-1] > 0.5
    assert _pn(x.abs() + 0.1).item() > 0.999  # all potentials on one side: the maximum, 1


def test_scale_invariant():
    x = _symmetric_batch() + 0.4
    base = _pn(x, CFNeuron(tau=2.0, threshold=1.0)).item()
    scaled = _pn(x * 7.0, CFNeuron(tau=2.0, threshold=7.0)).item()  # same spikes, H scaled by 7
    assert abs(base - scaled) < 1e-7 and base > 0.01  # equal up to the ε = 1e-8 in the denominator


def test_channel_granularity_sees_what_the_layer_average_hides():
    x = torch.randn(4, 16, 2, 3, dtype=torch.float64).abs() + 0.1
    x[:, :, 1] = -x[:, :, 0]  # channel 0 all positive, channel 1 its mirror image
    assert _pn(x, granularity="layer").item() < 1e-6
    assert _pn(x, granularity="channel").item() > 0.99


def test_gradient_reaches_the_neuron_input_and_lowering_it_balances():
    x = (_symmetric_batch() + 0.5).requires_grad_()
    loss = _pn(x)
    loss.backward()
    assert x.grad.abs().sum() > 0
    stepped = (x - 0.5 * x.grad / x.grad.abs().max()).detach()
    assert _pn(stepped).item() < loss.item()


def test_the_mean_over_layers():
    first, second = CFNeuron(), CFNeuron()
    x = _symmetric_batch()
    with observe() as seen:
        second(first(x + 0.3))
    each = [balance_loss([layer]).item() for layer in seen.layers]
    assert len(each) == 2
    assert abs(balance_loss(seen.layers).item() - sum(each) / 2) < 1e-12


def test_nothing_is_recorded_outside_observe():
    neuron = CFNeuron()
    with observe() as seen:
        pass
    neuron(torch.rand(3, 2, 4))
    assert seen.layers == []
