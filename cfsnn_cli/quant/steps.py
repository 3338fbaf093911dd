"""The step of every value of an integer graph: the real value of one integer unit.

The network's input has step s_in (calibrated: the largest |x| of a batch over the input's largest
integer); spikes have step 1; a k×k average pool of values of step s has step s/k² (its integers
are the sums); a global average pool over H×W, s/(H·W). The synapses feeding one neuron layer (a
conv, or a conv and a shortcut's projection) share its unit u per channel, u = max|W|·s_a over the
weight's largest integer (per output channel, or one for the layer); an identity shortcut of
spikes (step s) added into it needs s/u to be an integer k, so u becomes s/k with k =
max(1, floor(s/u)). The readout has one unit for all classes, so the integer argmax is the
class. Calibration writes these steps into the modules' buffers once; reading them back
(`calibrate=False`) gives the same plan from a trained model.
"""

from dataclasses import dataclass, field

import torch
from torch import nn

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.quant.graph import IntegerGraph, Node, refusal
from cfsnn_cli.quant.settings import Quantization
from cfsnn_cli.quant.synapse import largest_integer


@dataclass
class _Pending:
    """A sum of synapse outputs (and identity shortcuts) whose unit is chosen by whoever reads it."""

    synapses: list[Node]
    identities: list[tuple[int, int, torch.Tensor]] = field(default_factory=list)  # (add node, input, step)


@dataclass
class StepPlan:
    """Attributes:
    steps: each value's step (0-d, or per channel for a synapse sum), float64.
    multipliers: for each add node, per input, the integer its values are multiplied by (None: 1).
    input_step: s_in; output_unit: the readout's unit.
    shapes: each value's shape for the batch the plan was made with.
    """

    steps: list[torch.Tensor]
    multipliers: dict[int, list[torch.Tensor | None]]
    input_step: torch.Tensor
    output_unit: torch.Tensor
    shapes: list[torch.Size]


def value_shapes(graph: IntegerGraph, x_t: torch.Tensor) -> list[torch.Size]:
    """Each value's shape for one step's input x_t [B, ...] (neuron layers keep their input's shape)."""
    values: list[torch.Tensor] = []
    with torch.no_grad():
        for node in graph.nodes:
            if node.op == "input":
                values.append(x_t)
            elif node.op == "add":
                values.append(values[node.inputs[0]] + values[node.inputs[1]])
            elif node.op == "neuron":
                values.append(values[node.inputs[0]])
            else:
                values.append(node.module(values[node.inputs[0]]))
    return [value.shape for value in values]


def plan_steps(graph: IntegerGraph, x_t: torch.Tensor, settings: Quantization, calibrate: bool) -> StepPlan:
    """Propagate the steps through `graph` for input x_t [B, ...]; with `calibrate`, choose them
    and write them into the synapses' and neurons' buffers, else read them from there."""
    shapes = value_shapes(graph, x_t)
    input_limit = largest_integer(settings.input_bits)
    if calibrate:
        largest = x_t.detach().abs().max().double()
        if largest == 0:
            raise CfsnnError("data", "the batch the input step is calibrated on is all zeros")
        input_step = largest / input_limit
    else:
        input_step = _first_input_step(graph)
    steps: list[torch.Tensor | _Pending] = []
    multipliers: dict[int, list[torch.Tensor | None]] = {}

    def resolved(reader: Node) -> torch.Tensor:
        """The step of what `reader` reads, which must be spikes, the input or their pools."""
        value = steps[reader.inputs[0]]
        if isinstance(value, _Pending):
            raise refusal(
                f"{reader.name} ({reader.op}) reads the output of {graph.nodes[reader.inputs[0]].name} "
                "with no neuron layer between"
            )
        return value

    def finish(pending: _Pending, per_channel: bool, who: nn.Module | None) -> torch.Tensor:
        unit = _choose_unit(pending, settings, per_channel) if calibrate else pending.synapses[0].module.unit()
        for add, position, step in pending.identities:
            multipliers.setdefault(add, [None, None])[position] = torch.round(step / unit).to(torch.int64)
        if calibrate and who is not None:
            who.unit = unit.clone()
        return unit

    for index, node in enumerate(graph.nodes):
        if node.op == "input":
            steps.append(input_step)
        elif node.op == "synapse":
            step = resolved(node)
            if step.dim():
                raise refusal(
                    f"{node.name} reads values with a step per channel (a conv or linear layer after another)"
                )
            if calibrate:
                node.module.input_step = step.clone()
            steps.append(_Pending([node]))
        elif node.op == "avgpool":
            kernel = node.module.kernel_size
            area = kernel * kernel if isinstance(kernel, int) else kernel[0] * kernel[1]
            steps.append(resolved(node) / area)
        elif node.op == "globalavg":
            height, width = shapes[node.inputs[0]][-2:]
            steps.append(resolved(node) / (height * width))
        elif node.op in ("maxpool", "flatten"):
            step = resolved(node)
            if node.op == "flatten" and step.dim():
                raise refusal(f"{node.name} flattens values with a step per channel")
            steps.append(step)
        elif node.op == "neuron":
            pending = steps[node.inputs[0]]
            if not isinstance(pending, _Pending):
                raise refusal(f"{node.name} is fed by no conv or linear layer")
            steps.append(finish(pending, settings.per_channel, node.module).new_ones(()))
        elif not any(isinstance(steps[source], _Pending) for source in node.inputs):  # spikes + spikes (SEW)
            first, second = (steps[source] for source in node.inputs)
            if first.shape != second.shape or not torch.equal(first, second):
                raise refusal(f"{node.name} adds values of different steps")
            steps.append(first)
        else:  # a synapse sum and a shortcut: the shortcut is brought to the sum's unit
            merged = _Pending([])
            for position, source in enumerate(node.inputs):
                value = steps[source]
                if isinstance(value, _Pending):
                    merged.synapses += value.synapses
                    merged.identities += value.identities
                else:
                    merged.identities.append((index, position, value))
            steps.append(merged)
    last = steps[-1]
    if not isinstance(last, _Pending) or not last.synapses:
        raise refusal("it does not end in a conv or linear readout")
    output_unit = finish(last, False, None)
    steps[-1] = output_unit
    final = [step if isinstance(step, torch.Tensor) else torch.ones(()) for step in steps]
    return StepPlan(final, multipliers, input_step, output_unit, shapes)


def _first_input_step(graph: IntegerGraph) -> torch.Tensor:
    """s_in as calibration stored it: the input step of a synapse reading the network's input."""
    for node in graph.synapses():
        if node.module.input_limit is not None:
            return node.module.input_step
    raise refusal("no conv or linear layer reads the network's input")


def _choose_unit(pending: _Pending, settings: Quantization, per_channel: bool) -> torch.Tensor:
    """The shared unit of the synapses in `pending` (written into their weight steps)."""
    limit = largest_integer(settings.weight_bits)
    unit = None
    for node in pending.synapses:
        weight = node.module.weight.detach().double()
        largest = weight.abs().flatten(1).amax(1) * node.module.input_step / limit
        unit = largest if unit is None else torch.maximum(unit, largest)
    if not per_channel:
        unit = unit.amax().expand_as(unit).clone()
    if not unit.max() > 0:
        raise refusal("a layer's weights are all zero: no step to calibrate them on")
    unit = torch.where(unit > 0, unit, unit.max())  # an all-zero channel takes the layer's largest step
    identity_steps = {float(step) for _, _, step in pending.identities}
    if len(identity_steps) > 1:
        raise refusal("a residual sum adds shortcuts of different steps")
    if identity_steps:
        step = identity_steps.pop()
        unit = step / torch.clamp(torch.floor(step / unit), min=1)
    for node in pending.synapses:
        node.module.weight_step = unit / node.module.input_step
    return unit
