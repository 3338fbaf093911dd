"""State lives inside forward; options are checked with errors that name the field."""

import math

import pytest
import torch

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.neurons import NEURONS, CFNeuron, LIFNeuron, PLIFNeuron, build_neuron
from cfsnn_cli.surrogates import build_surrogate


@pytest.mark.parametrize("kind", NEURONS.kinds())
def test_no_membrane_state_in_state_dict_and_no_reset_between_batches(kind):
    neuron = build_neuron(kind)
    fixed = {"lif": [], "if": [], "cf": [], "plif": ["raw_decay"]}[kind]
    assert list(neuron.state_dict()) == fixed
    x = torch.rand(4, 3, 5) * 2
    first = neuron(x)
    neuron(torch.rand(4, 7, 5) * 3)  # another batch size in between needs no reset call
    assert torch.equal(neuron(x), first)


@pytest.mark.parametrize("kind", NEURONS.kinds())
def test_every_kind_keeps_shape_and_sends_gradient_back(kind):
    neuron = build_neuron(kind)
    x = (torch.rand(4, 2, 3, 5, 5) * 3).requires_grad_()
    spikes = neuron(x)
    assert spikes.shape == x.shape
    spikes.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_each_layer_owns_its_surrogate_parameters():
    a = CFNeuron(surrogate=build_surrogate("sigmoid", learnable="timestep", timesteps=4))
    b = CFNeuron(surrogate=build_surrogate("sigmoid", learnable="timestep", timesteps=4))
    assert a.surrogate.raw_alpha is not b.surrogate.raw_alpha
    assert CFNeuron().surrogate is not CFNeuron().surrogate  # the default is fresh per layer too


@pytest.mark.parametrize(
    "build,field",
    [
        (lambda: CFNeuron(tau=0.5), "tau"),
        (lambda: CFNeuron(levels=0), "levels"),
        (lambda: CFNeuron(levels=1.5), "levels"),
        (lambda: CFNeuron(threshold=0.0), "threshold"),
        (lambda: CFNeuron(threshold=-1.0), "threshold"),
        (lambda: CFNeuron(tau=math.inf, learn_tau=True), "tau"),
        (lambda: PLIFNeuron(tau=1.0), "tau"),
        (lambda: LIFNeuron(reset="sometimes"), "reset"),
        (lambda: build_neuron("izhikevich"), "kind"),
        (lambda: build_surrogate("gauss"), "kind"),
        (lambda: build_surrogate("sigmoid", alpha=0.05, alpha_min=0.1), "alpha"),
        (lambda: build_surrogate("sigmoid", alpha_min=-1.0), "alpha_min"),
        (lambda: build_surrogate("sigmoid", learnable="epoch"), "learnable"),
        (lambda: build_surrogate("sigmoid", learnable="timestep"), "timesteps"),
    ],
)
def test_bad_options_are_refused_naming_the_field(build, field):
    with pytest.raises(CfsnnError) as caught:
        build()
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(CfsnnError, match="known: cf, if, lif, plif"):
        build_neuron("izhikevich")


def test_per_step_alpha_refuses_another_T_while_training():
    neuron = CFNeuron(surrogate=build_surrogate("atan", learnable="timestep", timesteps=4))
    with pytest.raises(CfsnnError, match=r"^timesteps: .*T=4.*T=6"):
        neuron(torch.rand(6, 2, 3))


def test_per_step_alpha_works_at_another_T_in_evaluation():
    neuron = CFNeuron(surrogate=build_surrogate("atan", learnable="timestep", timesteps=4)).eval()
    reference = CFNeuron()  # same dynamics; α plays no part in forward
    x = torch.rand(6, 2, 3) * 3
    assert torch.equal(neuron(x), reference(x))
    with torch.no_grad():
        assert neuron.train()(x).shape == x.shape  # no gradient wanted: also fine in train mode


@pytest.mark.parametrize("kind", NEURONS.kinds())
def test_step_by_step_with_explicit_state_gives_the_sequence_spikes(kind):
    neuron = build_neuron(kind).eval()
    x_seq = torch.rand(6, 3, 4, 5) * 3 - 1
    v = neuron.initial_state(x_seq[0])
    steps = []
    for x_t in x_seq:
        n, v = neuron.step(x_t, v)
        steps.append(n)
    assert torch.equal(torch.stack(steps), neuron(x_seq))
