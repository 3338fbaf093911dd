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
