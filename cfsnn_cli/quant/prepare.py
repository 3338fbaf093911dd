"""A model made quantization-aware: batch norm folded into the weights before anything is
quantised (what is trained is what is deployed), every conv and linear layer fake-quantised
(`synapse.py`), every neuron layer given a fixed-point membrane (`neurons/fixed_point.py`).

    quantize_model(model, settings)      # the structure; every step still 1
    calibrate(model, x_t, settings)      # once, when quantised training starts

A quantised model holds no batch norm: fine-tuned from a float checkpoint, the checkpoint's
running statistics are folded first; trained quantised from scratch, it trains without.
"""

import torch
from torch import nn

from cfsnn_cli.models.folding import fold_batch_norm, replace_submodule
from cfsnn_cli.quant.graph import IntegerGraph, Node, integer_graph, refusal
from cfsnn_cli.quant.settings import Quantization
from cfsnn_cli.quant.steps import StepPlan, plan_steps
from cfsnn_cli.quant.synapse import QuantizedSynapse, largest_integer, quantized_copy


def quantize_model(model: nn.Module, settings: Quantization) -> IntegerGraph:
    """Fold `model`'s batch norms and make it quantization-aware in place; return its graph.

    Raises:
        CfsnnError: the model has an operation the integer path lacks (`graph.refusal`).
    """
    with torch.no_grad():
        fold_batch_norm(model)
    graph = integer_graph(model)
    for node in graph.synapses():
        if not isinstance(node.module, QuantizedSynapse):
            node.module = quantized_copy(node.module, settings.weight_bits)
            replace_submodule(model, node.name, node.module)
    for node in graph.synapses():
        node.module.input_limit = largest_integer(settings.input_bits) if _reads_input(graph, node) else None
    for node in graph.neurons():
        node.module.fixed_point = settings.membrane
        channels = _channels(graph, graph.nodes[node.inputs[0]])
        node.module.register_buffer("unit", torch.ones(channels, dtype=torch.float64, device=_device(model)))
    return graph


def calibrate(model: nn.Module, x_t: torch.Tensor, settings: Quantization) -> StepPlan:
    """Choose every step of the quantised `model` (`steps.py`) from its weights and an input
    batch x_t [B, ...] (the steps of a sequence batch together: x_seq.flatten(0, 1))."""
    with torch.no_grad():
        return plan_steps(integer_graph(model), x_t, settings, calibrate=True)


def _reads_input(graph: IntegerGraph, node: Node) -> bool:
    """Whether the synapse reads the network's input, through flattens only (the input is
    quantised once, where it enters; a pool before the first layer would sum already clipped
    integers, so it is refused)."""
    source, pool = graph.nodes[node.inputs[0]], None
    while source.op in ("flatten", "avgpool", "maxpool", "globalavg"):
        pool = pool or (source if source.op != "flatten" else None)
        source = graph.nodes[source.inputs[0]]
    if source.op == "input" and pool is not None:
        raise refusal(f"{pool.name} pools the input before any conv or linear layer")
    return source.op == "input"


def _channels(graph: IntegerGraph, node: Node) -> int:
    """The output channels of the synapses whose sum `node` makes (a neuron layer's width)."""
    if node.op == "synapse":
        return node.module.weight.shape[0]
    if node.op == "add":
        return _channels(graph, graph.nodes[node.inputs[0]])
    raise refusal(f"{node.name or 'a neuron layer'} is fed by no conv or linear layer")


def _device(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))
