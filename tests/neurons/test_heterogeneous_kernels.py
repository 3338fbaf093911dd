"""Every kernel runs each layer of a model with that layer's own settings: on a model whose layers
differ in kind, τ, θ, reset, levels and surrogate (`tests/heterogeneous.py`), each layer's spikes
and gradients are those of the plain reference loop with its settings, whichever backend runs it."""

import pytest
import torch

from cfsnn_cli.neurons.layers import named_neuron_layers
from cfsnn_cli.neurons.reference import reference_sequence
from tests.firing import recorded
from tests.heterogeneous import MODELS, heterogeneous_model
from tests.neurons.kernel_check import CPU_BACKENDS, KERNELS, assert_kernel_matches_reference, spikes_and_gradients

T, BATCH = 4, 3


def inputs(kind: str) -> torch.Tensor:
    shape, _ = MODELS[kind]
    return torch.rand(T, BATCH, *shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("kind", ["convnet", "mlp"])
def test_each_layer_runs_its_own_settings_in_every_kernel(kind, kernel):
    model = heterogeneous_model(kind).double()
    currents = recorded(model, inputs(kind), "in")
    for name, layer in named_neuron_layers(model):
        spikes, _ = assert_kernel_matches_reference(layer, currents[name], kernel)
        assert spikes.abs().sum() > 0, f"layer {name} never fires: the comparison would prove nothing"


def model_pass(model: torch.nn.Module, x_seq: torch.Tensor, backend: str):
    """Logits, each layer's spikes and every parameter's gradient with every layer on `backend`."""
    for _, layer in named_neuron_layers(model):
        layer.backend = backend
    model.zero_grad()
    spikes = {}

    def record(name: str, output: torch.Tensor) -> None:
        spikes[name] = output.detach()

    hooks = [
        layer.register_forward_hook(lambda m, i, o, name=name: record(name, o))
        for name, layer in named_neuron_layers(model)
    ]
    logits = model(x_seq)
    for hook in hooks:
        hook.remove()
    weights = torch.linspace(-1, 2, logits.numel(), dtype=logits.dtype).reshape(logits.shape)
    (logits * weights).sum().backward()
    return logits.detach(), spikes, {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_model_pass_gives_each_layer_the_reference_of_its_own_settings_on_every_backend(kind):
    model = heterogeneous_model(kind).double().train()
    x_seq = inputs(kind)
    logits, spikes, gradients = model_pass(model, x_seq, "torch")
    currents = recorded(model, x_seq, "in")
    for name, layer in named_neuron_layers(model):
        if kind == "rsnn":  # a recurrent layer's input holds its feedback too: checked by its own tests
            break
        want, _ = spikes_and_gradients(layer, currents[name], reference_sequence)
        assert torch.equal(spikes[name], want) and want.abs().sum() > 0, name
    for backend in CPU_BACKENDS:
        got_logits, got_spikes, got_gradients = model_pass(model, x_seq, backend)
        torch.testing.assert_close(got_logits, logits, rtol=1e-9, atol=1e-12)
        assert all(torch.equal(got_spikes[name], spikes[name]) for name in spikes), backend
        for name, gradient in gradients.items():
            torch.testing.assert_close(got_gradients[name], gradient, rtol=1e-7, atol=1e-10, msg=f"{backend}: {name}")
    learned_alphas = [p for name, p in model.named_parameters() if "surrogate" in name]
    assert learned_alphas and all(p.grad.abs().sum() > 0 for p in learned_alphas)  # α per layer or per step
