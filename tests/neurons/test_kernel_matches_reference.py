"""The memory-lean kernel and the plain autograd reference compute the same thing, for every option."""

import itertools

import pytest
import torch

from cfsnn_cli.neurons import CFNeuron, LIFNeuron
from cfsnn_cli.neurons.kernel import NeuronSequence
from cfsnn_cli.neurons.reference import reference_sequence
from cfsnn_cli.surrogates import SURROGATES, build_surrogate

T = 5


def _inputs(neuron, seed: int, shape=(T, 3, 4, 2, 2)):
    generator = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=generator, dtype=torch.float64) * 1.5).requires_grad_()
    neuron.double()
    alpha = neuron.surrogate.alpha_for(T, x, needs_grad=True)
    return x, neuron.decay_value().double(), neuron.threshold_value().double(), alpha


def _run_both(neuron, seed):
    x, beta, threshold, alpha = _inputs(neuron, seed)
    leaves = [x] + [p for p in neuron.parameters()]
    outputs = {}
    for name, run in (("kernel", NeuronSequence.apply), ("reference", reference_sequence)):
        args = (x, beta, threshold, alpha, neuron.rule)
        spikes, positive, negative = run(*args, True) if name == "kernel" else run(*args)
        # a loss that reaches every output, with weights so no gradient cancels by symmetry
        weights = torch.linspace(-1, 2, spikes.numel(), dtype=torch.float64).reshape(spikes.shape)
        loss = (spikes * weights).sum() + (positive * 0.3).sum() - (negative * 0.7).sum()
        grads = torch.autograd.grad(loss, leaves, retain_graph=True)
        outputs[name] = (spikes.detach(), grads)
    return outputs


def assert_kernel_matches_reference(neuron, seed):
    """Identical spikes; every gradient within 1e-6 in float64. Returns the kernel's results."""
    out = _run_both(neuron, seed)
    kernel_spikes, kernel_grads = out["kernel"]
    reference_spikes, reference_grads = out["reference"]
    assert torch.equal(kernel_spikes, reference_spikes)
    for got, want in zip(kernel_grads, reference_grads, strict=True):
        assert torch.allclose(got, want, atol=1e-6, rtol=0), (got - want).abs().max()
    return kernel_spikes, kernel_grads


LEARNABLE = ["none", "layer", "timestep"]
CF_OPTIONS = list(itertools.product([1, 3], [True, False], [True, False], LEARNABLE))


@pytest.mark.parametrize("levels,bipolar,detach_reset,learnable", CF_OPTIONS)
def test_cf_kernel_matches_reference(levels, bipolar, detach_reset, learnable):
    neuron = CFNeuron(
        tau=2.5,
        learn_tau=True,
        threshold=0.8,
        learn_threshold=True,
        levels=levels,
        bipolar=bipolar,
        detach_reset=detach_reset,
        v_init=0.1,
        surrogate=build_surrogate("atan", learnable=learnable, timesteps=T),
    )
    spikes, _ = assert_kernel_matches_reference(neuron, seed=levels * 10 + bipolar)
    assert spikes.abs().max() == levels  # the sequence reaches saturation, so the test covers it


@pytest.mark.parametrize(
    "reset,detach_reset,kind", list(itertools.product(["soft", "hard"], [True, False], SURROGATES.kinds()))
)
def test_lif_kernel_matches_reference(reset, detach_reset, kind):
    neuron = LIFNeuron(
        tau=3.0,
        learn_tau=True,
        threshold=0.7,
        learn_threshold=True,
        reset=reset,
        v_reset=-0.2,
        detach_reset=detach_reset,
        surrogate=build_surrogate(kind, learnable="timestep", timesteps=T),
    )
    assert_kernel_matches_reference(neuron, seed=7)


def test_every_learnable_gets_a_nonzero_gradient():
    """A guard on the test above: equal gradients that are all zero would prove nothing."""
    neuron = CFNeuron(
        tau=2.5,
        learn_tau=True,
        learn_threshold=True,
        levels=3,
        surrogate=build_surrogate("sigmoid", learnable="timestep", timesteps=T),
    )
    _, grads = _run_both(neuron, seed=3)["kernel"]
    assert all(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize(
    "levels,bipolar,detach_reset,kind",
    list(itertools.product([1, 3], [True, False], [True, False], SURROGATES.kinds())),
)
def test_cf_with_fixed_decay_and_threshold_matches_reference(levels, bipolar, detach_reset, kind):
    """The default path: β and θ are constants, so the kernel never recomputes spikes in backward."""
    neuron = CFNeuron(
        tau=2.0,
        threshold=0.6,
        levels=levels,
        bipolar=bipolar,
        detach_reset=detach_reset,
        surrogate=build_surrogate(kind, learnable="timestep", timesteps=T),
    )
    _, grads = assert_kernel_matches_reference(neuron, seed=11)
    assert len(grads) == 2  # x and the per-step α
