"""The largest magnitude each value of an integer program can take, from its integers alone (the
input's limit, the spike levels, the weights' absolute sums), and each value's shape for one
sample: what says whether a value fits the integer type a runtime holds it in."""

from dataclasses import dataclass

import numpy as np

from cfsnn_cli.quant.graph import refusal
from cfsnn_cli.quant.program import IntegerProgram
from cfsnn_cli.quant.simulator import step_values

# float32 holds every integer up to 2^24; an accumulator times its unit, divided by it again in
# float64 and rounded, comes back exactly with margin below 2^22 (the fake-quantised model's path)
FLOAT32_EXACT = 1 << 22
INT8_LIMIT = 127


@dataclass
class ValueBounds:
    shapes: list[tuple[int, ...]]  # each value's shape for one sample, without the batch
    bounds: list[int]  # each value's largest possible magnitude


def value_bounds(program: IntegerProgram) -> ValueBounds:
    """Shapes from a step of the simulator on zeros, bounds from the operations' integers."""
    tensors = {name: value.astype(np.int64) for name, value in program.tensors.items()}
    values = step_values(program, tensors, np.zeros((1, *program.input_shape), np.float32), {})
    bounds: list[int] = []
    for op in program.ops:
        inputs = [bounds[source] for source in op["in"]]
        kind = op["op"]
        if kind == "input":
            bounds.append(program.input_limit)
        elif kind == "neuron":
            bounds.append(op["levels"])
        elif kind == "sumpool":
            bounds.append(inputs[0] * op["kernel"] ** 2)
        elif kind == "globalsum":
            height, width = values[op["in"][0]].shape[-2:]
            bounds.append(inputs[0] * height * width)
        elif kind == "add":
            factors = [1 if name is None else int(np.abs(tensors[name]).max()) for name in op["multipliers"]]
            bounds.append(sum(bound * factor for bound, factor in zip(inputs, factors, strict=True)))
        elif kind in ("conv", "linear"):
            weight = np.abs(tensors[op["weight"]]).reshape(tensors[op["weight"]].shape[0], -1)
            bounds.append(int((weight.sum(axis=1) * inputs[0] + np.abs(tensors[op["bias"]])).max()))
        else:  # maxpool, flatten
            bounds.append(inputs[0])
    return ValueBounds([value.shape[1:] for value in values], bounds)


def check_exact_in_float32(program: IntegerProgram) -> None:
    """Refuse a program whose accumulators or spikes the fake-quantised model cannot hold exactly
    (so that what was trained would not be what is deployed)."""
    bounds = value_bounds(program).bounds
    for index, op in enumerate(program.ops):
        if op["op"] in ("conv", "linear") and bounds[index] > FLOAT32_EXACT:
            raise refusal(
                f"{op['name']} may accumulate up to {bounds[index]:,}, more than float32 training holds "
                f"exactly ({FLOAT32_EXACT:,}): use fewer weight or input bits"
            )
        if op["op"] == "neuron" and op["levels"] > INT8_LIMIT:
            raise refusal(f"{op['name']} fires up to {op['levels']} spike levels; integer spikes are int8")


def check_int8_inputs(program: IntegerProgram, bounds: ValueBounds) -> None:
    """Refuse a program where ONNX's int8 operations (ConvInteger, MatMulInteger, an int8 MaxPool)
    may read a value that int8 does not hold."""
    for op in program.ops:
        if op["op"] in ("conv", "linear", "maxpool") and bounds.bounds[op["in"][0]] > INT8_LIMIT:
            raise refusal(
                f"{op['name']} reads values up to {bounds.bounds[op['in'][0]]}, more than the int8 that ONNX's "
                "integer convolution, product and pooling take"
            )
