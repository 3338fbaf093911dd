"""The LIF special case agrees with SpikingJelly's LIFNode (decay_input=False) under the same β, θ
and surrogate: the numerics anchor the rest of the method to the field's workhorse."""

import pytest
import torch

from cfsnn_cli.neurons import LIFNeuron
from cfsnn_cli.surrogates import build_surrogate
from tests.peers import peer

sj_neuron = peer("spikingjelly.activation_based.neuron")
sj_surrogate = peer("spikingjelly.activation_based.surrogate")


# each of our surrogates that SpikingJelly also has, at a sharpness other than its default
SURROGATES = {"sigmoid": ("Sigmoid", 4.0), "atan": ("ATan", 3.0)}


@pytest.mark.parametrize("surrogate", list(SURROGATES))
@pytest.mark.parametrize("reset,v_reset", [("soft", None), ("hard", 0.0)])
@pytest.mark.parametrize("detach_reset", [False, True])
def test_lif_matches_spikingjelly(reset, v_reset, detach_reset, surrogate):
    theirs_surrogate, alpha = SURROGATES[surrogate]
    ours = LIFNeuron(
        tau=2.0,
        threshold=1.0,
        reset=reset,
        detach_reset=detach_reset,
        surrogate=build_surrogate(surrogate, alpha=alpha),
    )
    theirs = sj_neuron.LIFNode(
        tau=2.0,
        decay_input=False,
        v_threshold=1.0,
        v_reset=v_reset,
        detach_reset=detach_reset,
        surrogate_function=getattr(sj_surrogate, theirs_surrogate)(alpha=alpha),
        step_mode="m",
    )
    x = torch.randn(8, 4, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.6
    weights = torch.randn_like(x)
    results = []
    for neuron in (ours, theirs):
        xi = x.clone().requires_grad_()
        spikes = neuron(xi)
        (spikes * weights).sum().backward()
        results.append((spikes.detach(), xi.grad))
    (ours_spikes, ours_grad), (sj_spikes, sj_grad) = results
    assert ours_spikes.sum() > 0
    assert torch.equal(ours_spikes, sj_spikes)
    assert torch.allclose(ours_grad, sj_grad, atol=1e-12)
