"""The integer reference simulator: an IntegerProgram run in NumPy, integers only (int64), one
time step after another, the way an integer device runs it. The input is quantised where it
enters (one float32 division and rounding, as a sensor's converter would); everything after is
integer arithmetic, and the decay's floor is an arithmetic shift.

    run = simulate(program, x_seq)        # x_seq float32 [T, B, ...]
    run.logits                            # [T, B, K] accumulators; × program.output_unit for logits
    run.spikes                            # one int8 array [T, B, ...] per neuron layer, in order
"""

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cfsnn_cli.quant.program import IntegerProgram


@dataclass
class SimulatedRun:
    logits: np.ndarray  # int64 [T, B, K]
    spikes: list[np.ndarray]  # int8 [T, B, ...] per neuron layer


def quantize_input(program: IntegerProgram, x: np.ndarray) -> np.ndarray:
    """x_int = clip(round(x / input_step), ±input_limit), the division in float32 (half to even)."""
    scaled = np.asarray(x, dtype=np.float32) / np.float32(program.input_step)
    return np.clip(np.round(scaled), -program.input_limit, program.input_limit).astype(np.int64)


def simulate(program: IntegerProgram, x_seq: np.ndarray) -> SimulatedRun:
    """Run the program over x_seq [T, B, *input_shape] from every neuron's V_0 = v_init_int."""
    tensors = {name: value.astype(np.int64) for name, value in program.tensors.items()}
    potentials: dict[int, np.ndarray] = {}
    neurons = [index for index, op in enumerate(program.ops) if op["op"] == "neuron"]
    logits, spikes = [], []
    for x_t in x_seq:
        values = step_values(program, tensors, x_t, potentials)
        logits.append(values[-1])
        spikes.append([values[index] for index in neurons])
    return SimulatedRun(np.stack(logits), [np.stack(layer).astype(np.int8) for layer in zip(*spikes, strict=True)])


def step_values(
    program: IntegerProgram, tensors: dict[str, np.ndarray], x_t: np.ndarray, potentials: dict[int, np.ndarray]
) -> list[np.ndarray]:
    """Every value of one step (op i's at i) from x_t [B, ...]; `potentials` (each neuron op's V,
    by op index, absent before the first step) is updated in place."""
    values: list[np.ndarray] = []
    for index, op in enumerate(program.ops):
        inputs = [values[source] for source in op["in"]]
        if op["op"] == "neuron":
            n, potentials[index] = _neuron_step(op, inputs[0], potentials.get(index), tensors)
            values.append(n)
        elif op["op"] == "input":
            values.append(quantize_input(program, x_t))
        else:
            values.append(OPERATIONS[op["op"]](op, inputs, tensors))
    return values


def _per_channel(vector: np.ndarray, like: np.ndarray) -> np.ndarray:
    return vector.reshape(1, -1, *([1] * (like.ndim - 2)))


def _neuron_step(op, x: np.ndarray, v: np.ndarray | None, tensors) -> tuple[np.ndarray, np.ndarray]:
    threshold = _per_channel(tensors[op["threshold"]], x)
    if v is None:
        v = np.broadcast_to(_per_channel(tensors[op["v_init"]], x), x.shape).copy()
    low, high = -(1 << (op["membrane_bits"] - 1)), (1 << (op["membrane_bits"] - 1)) - 1
    h = np.clip(_decay(op, v) + x, low, high)
    levels = op["levels"]
    if op["bipolar"]:
        n = np.sign(h) * np.minimum(np.abs(h) // threshold, levels)
    else:
        n = np.minimum(np.maximum(h, 0) // threshold, levels)
    if op["hard_reset"]:
        return n, h - n * (h - _per_channel(tensors[op["v_reset"]], x))
    return n, h - threshold * n


def _decay(op, v: np.ndarray) -> np.ndarray:
    """The decayed potential as `neurons.fixed_point.decay` defines it (>> on int64 is a floor)."""
    shift, beta = op["leak_bits"], op["beta"]
    if op["leak_rounding"] == "toward_zero":
        product = beta * v
        return np.sign(product) * (np.abs(product) >> shift)
    if op["leak_rounding"] == "leak_floor":
        return v - ((((1 << shift) - beta) * v) >> shift)
    return (beta * v) >> shift


def _conv(op, inputs, tensors) -> np.ndarray:
    (a,) = inputs
    weight, bias = tensors[op["weight"]], tensors[op["bias"]]
    (pad_h, pad_w), (stride_h, stride_w), (dil_h, dil_w) = op["padding"], op["stride"], op["dilation"]
    groups = op["groups"]
    a = np.pad(a, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))
    out_channels, group_in, kernel_h, kernel_w = weight.shape
    span_h, span_w = dil_h * (kernel_h - 1) + 1, dil_w * (kernel_w - 1) + 1
    windows = sliding_window_view(a, (span_h, span_w), axis=(2, 3))[:, :, ::stride_h, ::stride_w, ::dil_h, ::dil_w]
    per_group = out_channels // groups
    outputs = []
    for group in range(groups):
        patch = windows[:, group * group_in : (group + 1) * group_in]  # [B, Cg, H', W', kh, kw]
        kernel = weight[group * per_group : (group + 1) * per_group]  # [Og, Cg, kh, kw]
        outputs.append(np.tensordot(patch, kernel, axes=([1, 4, 5], [1, 2, 3])))  # [B, H', W', Og]
    return np.concatenate(outputs, axis=3).transpose(0, 3, 1, 2) + _per_channel(bias, np.zeros((1, 1, 1, 1)))


def _linear(op, inputs, tensors) -> np.ndarray:
    return inputs[0] @ tensors[op["weight"]].T + tensors[op["bias"]]


def _sumpool(op, inputs, _) -> np.ndarray:
    (a,) = inputs
    k = op["kernel"]
    batch, channels, height, width = a.shape
    a = a[:, :, : height // k * k, : width // k * k]
    return a.reshape(batch, channels, height // k, k, width // k, k).sum(axis=(3, 5))


def _maxpool(op, inputs, _) -> np.ndarray:
    (a,) = inputs
    (pad_h, pad_w), (kernel_h, kernel_w), (stride_h, stride_w) = op["padding"], op["kernel"], op["stride"]
    lowest = np.iinfo(np.int64).min
    a = np.pad(a, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)), constant_values=lowest)
    windows = sliding_window_view(a, (kernel_h, kernel_w), axis=(2, 3))[:, :, ::stride_h, ::stride_w]
    return windows.max(axis=(4, 5))


def _add(op, inputs, tensors) -> np.ndarray:
    total = 0
    for value, factor in zip(inputs, op["multipliers"], strict=True):
        total = total + (value if factor is None else value * _per_channel(tensors[factor], value))
    return total


OPERATIONS = {
    "conv": _conv,
    "linear": _linear,
    "sumpool": _sumpool,
    "maxpool": _maxpool,
    "globalsum": lambda op, inputs, _: inputs[0].sum(axis=(2, 3)),
    "flatten": lambda op, inputs, _: inputs[0].reshape(inputs[0].shape[0], -1),
    "add": _add,
}
