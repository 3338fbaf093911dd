"""Models whose neuron layers differ from each other in kind, τ, θ, reset, levels and surrogate, built
as a recipe's `[layers]` builds them: what every consumer of a model (the kernels, the exporters,
the profiler, the PN term) is tested on, so that none of them can read one layer's settings, or
the recipe's, for another's."""

import torch

from cfsnn_cli.engine.build import build_model
from cfsnn_cli.neurons.layers import named_neuron_layers
from cfsnn_cli.recipe import load_recipe

# model kind → (one step's input shape, --set lines of its options)
MODELS = {
    "convnet": ((2, 8, 8), ["model.channels=[4, 8]", "model.hidden=16"]),
    "mlp": ((1, 8, 8), ["model.hidden=[24, 16, 12]"]),
    "rsnn": ((6,), ["model.hidden=[12, 10, 8]"]),
}
# the first two layers of each model get entries of their own; the last keeps the recipe's
FIRST = {"convnet": "1", "mlp": "1", "rsnn": "1.neuron"}
SECOND = {"convnet": "4", "mlp": "3", "rsnn": "3.neuron"}

# ternary CF by default; a hard-reset LIF with an atan surrogate learned per layer; a 3-level CF
# without leak and a fixed triangle surrogate
MIXED = [
    "neuron.kind=cf", "neuron.tau=2.0", "neuron.threshold=0.5", "neuron.levels=1", "neuron.bipolar=true",
    "surrogate.kind=sigmoid", "surrogate.learnable=timestep",
    "layers.first.neuron.kind=lif", "layers.first.neuron.reset=hard", "layers.first.neuron.tau=4.0",
    "layers.first.neuron.threshold=0.8", "layers.first.surrogate.kind=atan", "layers.first.surrogate.learnable=layer",
    "layers.second.neuron.levels=3", "layers.second.neuron.tau=inf", "layers.second.neuron.threshold=0.3",
    "layers.second.surrogate.kind=triangle", "layers.second.surrogate.learnable=none",
]  # fmt: skip
# what NIR 1.0 can hold (binary spikes, hard resets): LIF, IF and LIF with another τ and v_reset
BINARY = [
    "neuron.kind=lif", "neuron.reset=hard", "neuron.tau=2.0", "neuron.threshold=1.0",
    "layers.first.neuron.kind=if", "layers.first.neuron.threshold=0.7",
    "layers.second.neuron.tau=4.0", "layers.second.neuron.v_reset=-0.2", "layers.second.surrogate.kind=atan",
]  # fmt: skip


def heterogeneous_model(kind: str, settings: list[str] = MIXED, timesteps: int = 4) -> torch.nn.Module:
    """`kind` built from quickstart with `settings`, its first two layers matched by entries
    `first` and `second`; checked to hold as many different neuron settings as layers."""
    shape, options = MODELS[kind]
    matches = [f'layers.first.match="{FIRST[kind]}"', f'layers.second.match="{SECOND[kind]}"']
    recipe = load_recipe(
        "quickstart", [f"model.kind={kind}", *options, f"data.timesteps={timesteps}", *settings, *matches]
    )
    torch.manual_seed(0)
    model = build_model(recipe, shape, 5)
    described = {describe(layer) for _, layer in named_neuron_layers(model)}
    assert len(described) == len(named_neuron_layers(model)) == 3, described
    return model


def describe(layer) -> tuple:
    """What distinguishes one neuron layer's settings from another's."""
    rule, surrogate = layer.rule, layer.surrogate
    return (
        type(layer).__name__,
        float(layer.decay_value()),
        float(layer.threshold_value()),
        rule.levels,
        rule.bipolar,
        rule.hard_reset,
        rule.v_reset,
        type(surrogate).__name__,
        surrogate.learnable,
    )
