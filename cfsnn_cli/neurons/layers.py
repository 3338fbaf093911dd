"""A model's neuron layers by module path: the names profile-spikes prints, a recipe's `[layers]`
entries match, and the per-layer tables of eval, TensorBoard and the step API follow."""

from torch import nn

from cfsnn_cli.neurons.base import SpikingNeuron


def named_neuron_layers(model: nn.Module) -> list[tuple[str, SpikingNeuron]]:
    """(module path, layer) for every neuron layer of `model`, in registration order (the call
    order of every shipped model)."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, SpikingNeuron)]


def neuron_layers(model: nn.Module) -> list[SpikingNeuron]:
    """The model's neuron layers in registration order."""
    return [layer for _, layer in named_neuron_layers(model)]


def replace_neuron_layer(model: nn.Module, name: str, layer: SpikingNeuron) -> None:
    """Put `layer` where the neuron layer at module path `name` is. The parent's registration is
    kept in place, so parameters stay in the order the model built them (and the optimiser's groups
    with them)."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    # nn.Module's __setattr__ replaces the entry of `_modules` in place; Sequential and ModuleList
    # children are named "0", "1", … and replaced the same way.
    setattr(parent, child, layer)
