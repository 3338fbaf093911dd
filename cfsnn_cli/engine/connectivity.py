"""Which synapse layers feed which spiking layers, read off the autograd graph of one forward pass.

A model's modules say little about how data flows between them (Spikformer's attention runs three
linear layers, then three neurons; a residual block adds a shortcut). The autograd graph says it
exactly: walking back from the input of a spiking layer, every path ends at the output of a synapse
layer (a conv, a linear or a spike × spike product), at the output of another spiking layer (a
shortcut of spikes) or at the model's input. The synapse layers reached first are the ones feeding
that spiking layer, through whatever batch norms, poolings and additions lie between. A recurrent
layer's feedback synapse, called inside the layer on its own spikes, is read off its call instead.
"""

from collections.abc import Iterable

import torch
from torch import nn


def feeding(
    model: nn.Module, x_seq: torch.Tensor, neurons: dict[nn.Module, str], synapses: dict[nn.Module, str]
) -> dict[str, list[str]]:
    """For each spiking layer (by name), the synapse layers (by name, in call order) whose outputs
    reach its input without passing through another synapse or spiking layer.

    Args:
        model: the model; run once on `x_seq` with gradients on (its weights must require them).
        x_seq: an input [T, B, ...]; one sample is enough.
        neurons: the spiking layers and their names.
        synapses: the synapse layers (and spike × spike products) and their names.
    """
    produced: dict[object, str] = {}  # a synapse output's autograd node → the synapse's name
    spiking_outputs: set[object] = set()
    starts: dict[str, list[object]] = {name: [] for name in neurons.values()}
    recurrent: dict[str, set[str]] = {name: set() for name in neurons.values()}
    order: dict[str, int] = {}

    def synapse_called(module, _inputs, output):
        name = synapses[module]
        order.setdefault(name, len(order))
        if output.grad_fn is not None:
            produced[output.grad_fn] = name

    def neuron_called(module, inputs, keywords, output):
        starts[neurons[module]].append(inputs[0].grad_fn)
        spiking_outputs.add(output.grad_fn)
        if keywords.get("feedback") in synapses:
            recurrent[neurons[module]].add(synapses[keywords["feedback"]])

    hooks = [module.register_forward_hook(synapse_called) for module in synapses]
    hooks += [module.register_forward_hook(neuron_called, with_kwargs=True) for module in neurons]
    try:
        with torch.enable_grad():
            model(x_seq)
    finally:
        for hook in hooks:
            hook.remove()
    return {
        name: sorted(_reached(nodes, produced, spiking_outputs) | recurrent[name], key=order.__getitem__)
        for name, nodes in starts.items()
    }


def _reached(starts: Iterable[object], produced: dict[object, str], stops: set[object]) -> set[str]:
    found, seen = set(), set()
    pending = [node for node in starts if node is not None]
    while pending:
        node = pending.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in produced:
            found.add(produced[node])
            continue
        if node in stops:
            continue
        pending += [parent for parent, _ in node.next_functions if parent is not None]
    return found
