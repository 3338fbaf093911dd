"""What `observe()` records: membrane sums only when asked, spike counts always and exactly."""

import pytest
import torch

from cfsnn_cli.neurons import CFNeuron, observe


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_spike_counts_alone_skip_the_membrane_sums_and_count_the_same(backend):
    neuron = CFNeuron(levels=2, backend=backend)
    x_seq = torch.randn(4, 3, 5, 6, 6, generator=torch.Generator().manual_seed(0))
    with observe() as full:
        spikes = neuron(x_seq)
    with observe(membrane=False) as counts:
        neuron(x_seq)
    (both,), (alone,) = full.layers, counts.layers
    assert alone.positive.numel() == 0 and alone.elements_per_channel == 0
    assert both.positive.numel() == 5 and both.elements_per_channel == 4 * 3 * 6 * 6
    assert alone.spike_events == both.spike_events == spikes.abs().sum().double()
    assert alone.neurons == both.neurons == 3 * 5 * 6 * 6


def test_spike_counts_under_bf16_autocast_are_exact():
    # 1,000 neurons firing +1 on every step: 4,000 spikes, which a bfloat16 sum would round
    neuron = CFNeuron(threshold=1.0, tau=float("inf"))
    x_seq = torch.full((4, 1, 1000), 1.5)
    with torch.autocast("cpu", dtype=torch.bfloat16), observe(membrane=False) as seen:
        spikes = neuron(x_seq)
    assert spikes.dtype == torch.bfloat16
    assert seen.layers[0].spike_events.dtype == torch.float64
    assert seen.layers[0].spike_events.item() == spikes.float().abs().sum().item() > 256


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_channel_dim_keeps_the_statistics_per_token_feature(backend):
    # tokens [T, B, N, D]: with channel_dim = -1 each of the D features is a channel; the spikes are
    # those of the same layer on [T, B, D, N], and so are the sums and their gradients
    x_tokens = torch.randn(4, 3, 5, 6, generator=torch.Generator().manual_seed(1), requires_grad=True)
    x_moved = x_tokens.detach().transpose(2, 3).contiguous().requires_grad_()
    tokens, channels_first = CFNeuron(levels=2, backend=backend), CFNeuron(levels=2, backend=backend)
    tokens.channel_dim = -1
    with observe() as seen_tokens:
        spikes = tokens(x_tokens)
    with observe() as seen_moved:
        moved = channels_first(x_moved)
    assert spikes.shape == x_tokens.shape and torch.equal(spikes, moved.transpose(2, 3))
    (got,), (expected,) = seen_tokens.layers, seen_moved.layers
    assert got.positive.numel() == 6 and got.elements_per_channel == 4 * 3 * 5
    # the same sums, added in another order (float sums differ in the last bits)
    assert torch.allclose(got.positive, expected.positive) and torch.allclose(got.negative, expected.negative)
    (got.positive - got.negative).pow(2).sum().backward()
    (expected.positive - expected.negative).pow(2).sum().backward()
    assert torch.allclose(x_tokens.grad, x_moved.grad.transpose(2, 3))
