"""Step-by-step inference with explicit state gives the sequence path's spikes and logits, for every
model of the zoo with every neuron kind."""

import pytest
import torch

from cfsnn_cli.engine.step import initial_states, neuron_layers, run_steps, step_model
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.models import MODELS
from cfsnn_cli.neurons import NEURONS, build_neuron
from tests.firing import assert_every_layer_fires, calibrate_thresholds
from tests.models.test_models import INPUTS, OPTIONS

T, B, CLASSES = 3, 2, 5
NEURON_OPTIONS = {
    "cf": {"levels": 3},
    "lif": {"reset": "hard", "tau": 2.0},
    "if": {"reset": "soft"},
    "plif": {"reset": "hard", "v_reset": -0.1},
}


def sequence_spikes(model, x_seq):
    """The sequence path's logits and every neuron layer's spikes, in call order."""
    seen = []
    hooks = [layer.register_forward_hook(lambda m, i, o: seen.append(o)) for layer in neuron_layers(model)]
    try:
        logits = model(x_seq)
    finally:
        for hook in hooks:
            hook.remove()
    return logits, seen


LARGE = {"resnet19", "vgg11", "vggsnn", "sew_resnet18", "sew_resnet34"}  # seconds each on two cores


@pytest.mark.parametrize("neuron_kind", NEURONS.kinds())
@pytest.mark.parametrize(
    "kind", [pytest.param(kind, marks=[pytest.mark.slow] if kind in LARGE else []) for kind in MODELS.kinds()]
)
def test_step_by_step_equals_the_sequence_path(kind, neuron_kind):
    torch.manual_seed(0)
    model = MODELS.get(kind)(
        input_shape=INPUTS[kind],
        num_classes=CLASSES,
        neuron=lambda: build_neuron(neuron_kind, **NEURON_OPTIONS[neuron_kind]),
        **OPTIONS.get(kind, {}),
    ).eval()
    x_seq = torch.rand(T, B, *INPUTS[kind]) * 2
    assert_every_layer_fires(calibrate_thresholds(model, x_seq), x_seq)  # no layer compares zeros with zeros
    with torch.no_grad():
        expected_logits, expected_spikes = sequence_spikes(model, x_seq)
        logits, spikes = run_steps(model, x_seq)
    assert len(spikes) == len(expected_spikes) == len(neuron_layers(model))
    for got, want in zip(spikes, expected_spikes, strict=True):
        assert torch.equal(got, want)
    torch.testing.assert_close(logits, expected_logits, rtol=1e-5, atol=1e-5)
    assert not any("forward" in vars(layer) for layer in neuron_layers(model))  # nothing left behind


def test_states_are_values_passed_in_and_out():
    torch.manual_seed(0)
    model = MODELS.get("mlp")(input_shape=(6,), num_classes=3, neuron=lambda: build_neuron("cf")).eval()
    x_t = torch.rand(4, 6) * 3
    states = initial_states(model, x_t)
    assert [s.shape for s in states] == [(4, 256)] and all(torch.equal(s, torch.zeros(4, 256)) for s in states)
    with torch.no_grad():
        first, after = step_model(model, x_t, states)
        again, _ = step_model(model, x_t, states)  # the same state in: the same result, nothing hidden
    assert torch.equal(first, again) and not torch.equal(after[0], states[0])
    with pytest.raises(CfsnnError, match="states"):
        step_model(model, x_t, [*states, states[0]])


def test_a_recurrent_layer_has_its_previous_spikes_as_a_named_state_after_its_potential():
    from cfsnn_cli.engine.step import named_initial_states

    model = MODELS.get("rsnn")(input_shape=(6,), num_classes=3, neuron=lambda: build_neuron("cf"), hidden=[5, 4])
    named = named_initial_states(model.eval(), torch.rand(2, 6))
    assert list(named) == ["v_0", "r_0", "v_1", "r_1"]
    assert [tuple(state.shape) for state in named.values()] == [(2, 5), (2, 5), (2, 4), (2, 4)]
    assert all(not state.any() for state in named.values())  # v_init = 0, and no spikes before t = 1
