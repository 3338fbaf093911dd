"""Recurrent spiking layers (`RecurrentSpiking`, the `rsnn` model): the step-by-step path against
the plain autograd reference with a real recurrent weight, and the recurrence shown to matter."""

import itertools

import pytest
import torch

from cfsnn_cli.models.blocks import RecurrentSpiking
from cfsnn_cli.neurons import LIFNeuron
from cfsnn_cli.neurons.reference import reference_sequence
from cfsnn_cli.surrogates import build_surrogate
from tests.neurons.kernel_check import learning_cf_neuron

T, B, D = 6, 3, 5


def lif_neuron(reset: str) -> LIFNeuron:
    return LIFNeuron(
        tau=3.0,
        learn_tau=True,
        learn_threshold=True,
        threshold=0.7,
        reset=reset,
        v_reset=-0.2,
        surrogate=build_surrogate("sigmoid", learnable="timestep", timesteps=T),
    )


NEURONS = [
    *(
        pytest.param(lambda o=options: learning_cf_neuron(*o, T), id=f"cf-{'-'.join(map(str, options))}")
        for options in itertools.product([1, 3], [True, False], [True, False], ["layer", "timestep"])
    ),
    pytest.param(lambda: lif_neuron("hard"), id="lif-hard"),
    pytest.param(lambda: lif_neuron("soft"), id="lif-soft"),
]


def layer_and_input(make_neuron, seed: int = 0) -> tuple[RecurrentSpiking, torch.Tensor]:
    torch.manual_seed(seed)
    layer = RecurrentSpiking(D, make_neuron()).double()
    with torch.no_grad():
        layer.recurrent.weight.mul_(3)  # strong enough that the feedback changes spikes
    x = (torch.randn(T, B, D, dtype=torch.float64) * 1.5).requires_grad_()
    return layer, x


def outputs_and_gradients(layer: RecurrentSpiking, x: torch.Tensor, spikes: torch.Tensor):
    weights = torch.linspace(-1, 2, spikes.numel(), dtype=torch.float64).reshape(spikes.shape)
    leaves = [x, *layer.parameters()]
    return spikes.detach(), torch.autograd.grad((spikes * weights).sum(), leaves)


def reference_run(layer: RecurrentSpiking, x: torch.Tensor) -> torch.Tensor:
    neuron = layer.neuron
    alpha = neuron.surrogate.alpha_for(T, x, needs_grad=True)
    beta, threshold = neuron.decay_value().to(x), neuron.threshold_value().to(x)
    spikes, _, _ = reference_sequence(x, beta, threshold, alpha, neuron.rule, feedback=layer.recurrent)
    return spikes


@pytest.mark.parametrize("make_neuron", NEURONS)
def test_recurrent_layer_matches_the_autograd_reference(make_neuron):
    layer, x = layer_and_input(make_neuron)
    got_spikes, got_grads = outputs_and_gradients(layer, x, layer(x))
    want_spikes, want_grads = outputs_and_gradients(layer, x, reference_run(layer, x))
    assert torch.equal(got_spikes, want_spikes)
    assert 0.1 < (got_spikes != 0).double().mean() < 0.9  # neither silent nor saturated
    for got, want in zip(got_grads, want_grads, strict=True):
        assert torch.allclose(got, want, rtol=1e-6, atol=1e-9), (got - want).abs().max()
    recurrent_grad = dict(zip([name for name, _ in layer.named_parameters()], got_grads[1:], strict=True))
    assert recurrent_grad["recurrent.weight"].abs().sum() > 0


def test_the_recurrence_changes_the_spikes():
    """A guard: with the recurrent weight zeroed the layer is its plain neuron, and with it the
    spikes differ, so the equality above could not pass with a feedback that is ignored."""
    layer, x = layer_and_input(NEURONS[0].values[0])
    with torch.no_grad():
        recurrent = layer(x)
        plain = layer.neuron(x)
        layer.recurrent.weight.zero_()
        assert torch.equal(layer(x), plain)
    assert not torch.equal(recurrent, plain)
