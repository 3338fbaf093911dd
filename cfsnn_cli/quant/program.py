"""The integer program a quantised model becomes: its graph's operations with integer tensors,
as plain data (JSON-able operations, NumPy arrays) that the simulator and the integer ONNX graph
run and the integer bundle stores.

Operations (each makes value i from the values of its `in`):
    input      x_int = clip(round(x / input_step), ±input_limit)   (float32 division: at the sensor)
    conv       W_int ⊛ a + b_int   (stride, padding, dilation, groups as the layer's)
    linear     W_int · a + b_int
    sumpool    the sum over k×k windows with stride k
    maxpool    the max over windows (kernel, stride, padding)
    globalsum  the sum over H×W
    flatten    all but the batch dimension into one
    add        a·m_a + b·m_b, m an integer per channel (absent: 1)
    neuron     the fixed-point membrane of `neurons/fixed_point.py`; its spikes are the value
The last value is the readout's accumulator; logits = accumulator·output_unit.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from cfsnn_cli.neurons.fixed_point import integer_neuron
from cfsnn_cli.quant.graph import integer_graph, pair, refusal
from cfsnn_cli.quant.settings import Quantization
from cfsnn_cli.quant.steps import plan_steps


@dataclass
class IntegerProgram:
    """Attributes:
    ops: the operations in order, op i making value i (JSON-able dicts; see the module docstring).
    tensors: the integer tensors the operations name (int8 weights, int32 biases and constants).
    input_step, input_limit: how the input is quantised; output_unit: the logits' unit.
    input_shape: one step's input shape without batch.
    """

    ops: list[dict[str, Any]]
    tensors: dict[str, np.ndarray]
    input_step: float
    input_limit: int
    output_unit: float
    input_shape: list[int]

    def header(self) -> dict[str, Any]:
        """Everything but the tensors, as JSON-able data."""
        return {
            "ops": self.ops,
            "input_step": self.input_step,
            "input_limit": self.input_limit,
            "output_unit": self.output_unit,
            "input_shape": self.input_shape,
        }

    @classmethod
    def from_header(cls, header: dict[str, Any], tensors: dict[str, np.ndarray]) -> "IntegerProgram":
        return cls(tensors=tensors, **header)

    def neuron_ops(self) -> list[dict[str, Any]]:
        return [op for op in self.ops if op["op"] == "neuron"]


def integer_program(model: nn.Module, input_shape: tuple[int, ...], settings: Quantization) -> IntegerProgram:
    """Write the quantised `model` (its steps calibrated) out as an IntegerProgram.

    Raises:
        CfsnnError: the model has an operation the integer path lacks, or a constant does not fit
            the integer width a device stores it in.
    """
    graph = integer_graph(model)
    x_t = torch.zeros(1, *input_shape, device=next(model.parameters()).device)
    plan = plan_steps(graph, x_t, settings, calibrate=False)
    ops: list[dict[str, Any]] = []
    tensors: dict[str, np.ndarray] = {}

    def store(name: str, value: torch.Tensor, dtype) -> str:
        integers = value.detach().cpu().double().numpy()
        info = np.iinfo(dtype)
        if integers.size and (integers.min() < info.min or integers.max() > info.max):
            raise refusal(f"{name} does not fit {np.dtype(dtype).name}")
        tensors[name] = integers.astype(dtype)
        return name

    input_limit = 0
    with torch.no_grad():
        for index, node in enumerate(graph.nodes):
            op: dict[str, Any] = {"op": node.op, "in": list(node.inputs), "name": node.name}
            module = node.module
            if node.op == "synapse":
                input_limit = module.input_limit or input_limit
                bias = module.integer_bias()
                op |= {
                    "op": "conv" if isinstance(module, nn.Conv2d) else "linear",
                    "weight": store(f"{index}.weight", module.integer_weight(), np.int8),
                    "bias": store(
                        f"{index}.bias",
                        bias if bias is not None else module.weight.new_zeros(module.weight.shape[0]),
                        np.int32,
                    ),
                }
                if op["op"] == "conv":
                    op |= {
                        "stride": list(module.stride),
                        "padding": list(module.padding),
                        "dilation": list(module.dilation),
                        "groups": module.groups,
                    }
            elif node.op == "avgpool":
                kernel = module.kernel_size
                op |= {"op": "sumpool", "kernel": kernel if isinstance(kernel, int) else kernel[0]}
                if not isinstance(kernel, int) and kernel[0] != kernel[1]:
                    raise refusal(f"{node.name} pools over a window that is not square")
            elif node.op == "maxpool":
                op |= {
                    "kernel": list(pair(module.kernel_size)),
                    "stride": list(pair(module.stride)),
                    "padding": list(pair(module.padding)),
                }
            elif node.op == "globalavg":
                op["op"] = "globalsum"
            elif node.op == "neuron":
                op |= _neuron_op(index, module, store)
            elif node.op == "add":
                factors = plan.multipliers.get(index, [None, None])
                op["multipliers"] = [
                    None if factor is None else store(f"{index}.multiplier{position}", factor, np.int32)
                    for position, factor in enumerate(factors)
                ]
            ops.append(op)
    return IntegerProgram(
        ops=ops,
        tensors=tensors,
        input_step=float(plan.input_step),
        input_limit=input_limit,
        output_unit=float(plan.output_unit.reshape(-1)[0]),
        input_shape=list(input_shape),
    )


def _neuron_op(index: int, neuron, store) -> dict[str, Any]:
    fixed_point = neuron.fixed_point
    constants = integer_neuron(neuron, neuron.unit, fixed_point)
    high = fixed_point.limits[1]
    if float(constants.threshold.max()) > high:
        raise refusal(
            f"layer {index}'s integer threshold {int(constants.threshold.max())} exceeds the membrane's "
            f"{fixed_point.membrane_bits} bits: raise quantize.membrane_bits"
        )
    rule = neuron.rule
    return {
        "threshold": store(f"{index}.threshold", constants.threshold, np.int32),
        "v_reset": store(f"{index}.v_reset", constants.v_reset, np.int32),
        "v_init": store(f"{index}.v_init", constants.v_init, np.int32),
        "beta": int(constants.beta),
        "leak_bits": fixed_point.leak_bits,
        "leak_rounding": fixed_point.leak_rounding,
        "membrane_bits": fixed_point.membrane_bits,
        "levels": rule.levels,
        "bipolar": rule.bipolar,
        "hard_reset": rule.hard_reset,
    }
