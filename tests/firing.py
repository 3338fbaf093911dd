"""Equivalence tests compare spikes and logits; a layer that never fires makes such a test compare
zeros with zeros and pass whatever that layer's code does. These helpers make every spiking layer
of a model fire on a test's input, and check that it does."""

import torch
from torch import nn

from cfsnn_cli.neurons import SpikingNeuron


def spiking_layers(model: nn.Module) -> dict[str, SpikingNeuron]:
    return {name: module for name, module in model.named_modules() if isinstance(module, SpikingNeuron)}


def recorded(model: nn.Module, x_seq: torch.Tensor, what: str) -> dict[str, torch.Tensor]:
    """Each spiking layer's input ("in") or output ("out") over one pass of the sequence path."""
    seen: dict[str, torch.Tensor] = {}

    def record(name: str, inputs, output) -> None:  # None: a forward hook's value would replace the output
        seen.setdefault(name, inputs[0] if what == "in" else output)

    hooks = [
        layer.register_forward_hook(lambda m, i, o, name=name: record(name, i, o))
        for name, layer in spiking_layers(model).items()
    ]
    try:
        with torch.no_grad():
            model(x_seq)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def silent_layers(model: nn.Module, x_seq: torch.Tensor) -> list[str]:
    """The spiking layers (by name) that emit no spike at all on `x_seq`."""
    fired = recorded(model, x_seq, "out")
    return [name for name in spiking_layers(model) if name not in fired or not bool(fired[name].abs().sum())]


def assert_every_layer_fires(model: nn.Module, x_seq: torch.Tensor) -> None:
    silent = silent_layers(model, x_seq)
    assert not silent, f"{len(silent)} of {len(spiking_layers(model))} spiking layers never fire: {silent[:5]}"


def calibrate_thresholds(model: nn.Module, x_seq: torch.Tensor, quantile: float = 0.8) -> nn.Module:
    """Set each spiking layer's fixed θ, in call order, to the `quantile` of its first step's input
    on `x_seq` (of its magnitude for a bipolar neuron), given the layers before it already set, so
    that about a fifth of its neurons cross it at once: a deep network of random weights then fires
    in every layer. Learned thresholds are left as they are. Returns `model`."""
    for name, layer in spiking_layers(model).items():
        if hasattr(layer, "raw_threshold"):
            continue
        inputs = recorded(model, x_seq, "in").get(name)
        if inputs is None:  # a branch the pass never takes
            continue
        # a unipolar neuron fires on positive potentials only: the quantile of the input itself
        first = inputs[0].flatten().float()
        level = float(torch.quantile(first.abs() if layer.rule.bipolar else first, quantile))
        layer.threshold = level if level > 0 else max(float(first.max()) / 2, 1e-3)
    return model
