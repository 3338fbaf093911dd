"""The integer program as an ONNX graph of integer operations (docs/export.md): ConvInteger and
MatMulInteger on int8 values and weights, int64 membrane arithmetic (the decay's floor as
(βV − (βV mod 2^F)) / 2^F, exact whatever the runtime's integer division rounds to), int8 spikes.
The one float operation is the input's quantisation, Round(x / input_step), as in the simulator.

Two modes, as the float graphs:
- `step`: inputs `x` [B, ...] float32 and `v_0` … (each layer's V, int64), outputs `logits`
  (the readout's int64 accumulator), `v_0_next` … and `spikes_0` … (int8); V_0 per channel is in
  the metadata (`cfsnn_v_init`).
- `unrolled`: input `x` [T, B, ...] for a fixed T, outputs `logits` [T, B, K] and `spikes_i` [T, B, ...].
Logits are accumulator × `cfsnn_output_unit` (metadata); their argmax is the class.
"""

import json
from typing import Any

import numpy as np

from cfsnn_cli.quant.bounds import check_int8_inputs, value_bounds
from cfsnn_cli.quant.program import IntegerProgram


class _Builder:
    """Nodes and initializers, each name made unique by a counter."""

    def __init__(self):
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def constant(self, stem: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.initializers.append(numpy_helper.from_array(np.array(value, order="C"), name))  # 0-d stays 0-d
        return name

    def op(self, kind: str, inputs: list[str], **attributes) -> str:
        from onnx import helper

        output = self.name(kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [output], **attributes))
        return output


def _emit_step(
    build: _Builder, program: IntegerProgram, x: str, potentials: list[str], shapes
) -> tuple[str, list[str], list[str]]:
    """One time step's nodes: (the logits accumulator, each layer's new V, each layer's spikes int64)."""
    from onnx import TensorProto

    const = {name: value.astype(np.int64) for name, value in program.tensors.items()}
    values: list[str] = []
    new_potentials, spikes = [], []
    layer = 0

    def channels(vector: np.ndarray, rank: int) -> np.ndarray:
        return vector.reshape(1, -1, *([1] * (rank - 2)))

    def as_int8(value: str) -> str:
        return build.op("Cast", [value], to=TensorProto.INT8)

    def as_int64(value: str) -> str:
        return build.op("Cast", [value], to=TensorProto.INT64)

    for index, op in enumerate(program.ops):
        kind = op["op"]
        inputs = [values[source] for source in op["in"]]
        rank = len(shapes[index]) + 1
        if kind == "input":
            scaled = build.op(
                "Round", [build.op("Div", [x, build.constant("input_step", np.array(program.input_step, np.float32))])]
            )
            limit = np.array(program.input_limit, np.float32)
            clipped = build.op("Clip", [scaled, build.constant("low", -limit), build.constant("high", limit)])
            values.append(as_int64(clipped))
        elif kind == "conv":
            (pad_h, pad_w), strides, dilations = op["padding"], op["stride"], op["dilation"]
            weight = build.constant(f"w{index}", program.tensors[op["weight"]])
            accumulator = build.op(
                "ConvInteger",
                [as_int8(inputs[0]), weight],
                pads=[pad_h, pad_w, pad_h, pad_w],
                strides=strides,
                dilations=dilations,
                group=op["groups"],
            )
            values.append(
                build.op("Add", [as_int64(accumulator), build.constant(f"b{index}", channels(const[op["bias"]], 4))])
            )
        elif kind == "linear":
            weight = build.constant(f"w{index}", np.ascontiguousarray(program.tensors[op["weight"]].T))
            accumulator = build.op("MatMulInteger", [as_int8(inputs[0]), weight])
            values.append(build.op("Add", [as_int64(accumulator), build.constant(f"b{index}", const[op["bias"]])]))
        elif kind == "sumpool":
            k = op["kernel"]
            height, width = shapes[op["in"][0]][-2:]
            cropped = build.op(
                "Slice",
                [
                    inputs[0],
                    build.constant("start", np.array([0, 0], np.int64)),
                    build.constant("end", np.array([height // k * k, width // k * k], np.int64)),
                    build.constant("axes", np.array([2, 3], np.int64)),
                ],
            )
            blocks = build.op(
                "Reshape", [cropped, build.constant("shape", np.array([0, 0, height // k, k, width // k, k], np.int64))]
            )
            values.append(
                build.op("ReduceSum", [blocks, build.constant("axes", np.array([3, 5], np.int64))], keepdims=0)
            )
        elif kind == "maxpool":
            (pad_h, pad_w) = op["padding"]
            pooled = build.op(
                "MaxPool",
                [as_int8(inputs[0])],
                kernel_shape=op["kernel"],
                strides=op["stride"],
                pads=[pad_h, pad_w, pad_h, pad_w],
            )
            values.append(as_int64(pooled))
        elif kind == "globalsum":
            values.append(
                build.op("ReduceSum", [inputs[0], build.constant("axes", np.array([2, 3], np.int64))], keepdims=0)
            )
        elif kind == "flatten":
            values.append(build.op("Flatten", [inputs[0]], axis=1))
        elif kind == "add":
            terms = [
                value
                if factor is None
                else build.op("Mul", [value, build.constant("m", channels(const[factor], rank))])
                for value, factor in zip(inputs, op["multipliers"], strict=True)
            ]
            values.append(build.op("Add", terms))
        elif kind == "neuron":
            v = (
                potentials[layer]
                if potentials[layer] is not None
                else build.op(
                    "Add",
                    [
                        build.op("Mul", [inputs[0], build.constant("zero", np.array(0, np.int64))]),
                        build.constant("v_init", channels(const[op["v_init"]], rank)),
                    ],
                )
            )
            n, v_next = _emit_neuron(build, op, inputs[0], v, const, rank)
            new_potentials.append(v_next)
            spikes.append(n)
            values.append(n)
            layer += 1
    return values[-1], new_potentials, spikes


def _emit_decay(build: _Builder, op, v: str) -> str:
    """`neurons.fixed_point.decay` in integer operations, whatever the runtime's integer division
    rounds to: a floor as (p − (p mod 2^F)) / 2^F (Mod with a positive divisor is ≥ 0), a
    truncation as sign(p)·(|p| / 2^F)."""
    scale_value = 1 << op["leak_bits"]
    scale = build.constant("scale", np.array(scale_value, np.int64))

    def floor_shift(product: str) -> str:
        remainder = build.op("Mod", [product, scale], fmod=0)
        return build.op("Div", [build.op("Sub", [product, remainder]), scale])

    if op["leak_rounding"] == "leak_floor":
        leak = build.op("Mul", [v, build.constant("leak", np.array(scale_value - op["beta"], np.int64))])
        return build.op("Sub", [v, floor_shift(leak)])
    product = build.op("Mul", [v, build.constant("beta", np.array(op["beta"], np.int64))])
    if op["leak_rounding"] == "toward_zero":
        return build.op("Mul", [build.op("Sign", [product]), build.op("Div", [build.op("Abs", [product]), scale])])
    return floor_shift(product)


def _emit_neuron(build: _Builder, op, x: str, v: str, const, rank: int) -> tuple[str, str]:
    shaped = lambda name: const[op[name]].reshape(1, -1, *([1] * (rank - 2)))  # noqa: E731
    decayed = _emit_decay(build, op, v)
    low, high = -(1 << (op["membrane_bits"] - 1)), (1 << (op["membrane_bits"] - 1)) - 1
    h = build.op("Add", [decayed, x])
    h = build.op(
        "Min",
        [
            build.op("Max", [h, build.constant("low", np.array(low, np.int64))]),
            build.constant("high", np.array(high, np.int64)),
        ],
    )
    threshold = build.constant("threshold", shaped("threshold"))
    levels = build.constant("levels", np.array(op["levels"], np.int64))
    if op["bipolar"]:
        crossings = build.op("Min", [build.op("Div", [build.op("Abs", [h]), threshold]), levels])
        n = build.op("Mul", [build.op("Sign", [h]), crossings])
    else:
        positive = build.op("Max", [h, build.constant("zero", np.array(0, np.int64))])
        n = build.op("Min", [build.op("Div", [positive, threshold]), levels])
    if op["hard_reset"]:
        gap = build.op("Sub", [h, build.constant("v_reset", shaped("v_reset"))])
        return n, build.op("Sub", [h, build.op("Mul", [n, gap])])
    return n, build.op("Sub", [h, build.op("Mul", [threshold, n])])


def integer_onnx(program: IntegerProgram, mode: str, timesteps: int, opset: int, metadata: dict[str, str]) -> bytes:
    """The program as a serialized ONNX model in `mode` ("step" or "unrolled", T = `timesteps`).

    Raises:
        CfsnnError: a conv, linear or max-pool layer reads values that may not fit int8.
    """
    import onnx
    from onnx import TensorProto, helper

    bounds = value_bounds(program)
    check_int8_inputs(program, bounds)
    shapes = bounds.shapes
    build = _Builder()
    layers = len(program.neuron_ops())
    batch = "batch"
    input_dims = [batch, *program.input_shape]
    spike_shapes = [[batch, *shapes[index]] for index, op in enumerate(program.ops) if op["op"] == "neuron"]
    spike_names = [f"spikes_{i}" for i in range(layers)]
    if mode == "step":
        states = [f"v_{i}" for i in range(layers)]
        logits, potentials, spikes = _emit_step(build, program, "x", states, shapes)
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_dims)]
        inputs += [
            helper.make_tensor_value_info(s, TensorProto.INT64, d) for s, d in zip(states, spike_shapes, strict=True)
        ]
        finals = [("logits", logits, TensorProto.INT64, [batch, shapes[-1][0]])]
        finals += [
            (f"{s}_next", p, TensorProto.INT64, d) for s, p, d in zip(states, potentials, spike_shapes, strict=True)
        ]
        finals += [
            (name, build.op("Cast", [n], to=TensorProto.INT8), TensorProto.INT8, d)
            for name, n, d in zip(spike_names, spikes, spike_shapes, strict=True)
        ]
    else:
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [timesteps, *input_dims])]
        potentials: list[str | None] = [None] * layers
        per_step_logits, per_step_spikes = [], []
        for t in range(timesteps):
            x_t = build.op("Gather", ["x", build.constant("t", np.array(t, np.int64))], axis=0)
            logits, potentials, spikes = _emit_step(build, program, x_t, potentials, shapes)
            axis = build.constant("axis0", np.array([0], np.int64))
            per_step_logits.append(build.op("Unsqueeze", [logits, axis]))
            per_step_spikes.append(
                [build.op("Unsqueeze", [build.op("Cast", [n], to=TensorProto.INT8), axis]) for n in spikes]
            )
        finals = [
            (
                "logits",
                build.op("Concat", per_step_logits, axis=0),
                TensorProto.INT64,
                [timesteps, batch, shapes[-1][0]],
            )
        ]
        finals += [
            (name, build.op("Concat", list(layer), axis=0), TensorProto.INT8, [timesteps, *d])
            for name, layer, d in zip(spike_names, zip(*per_step_spikes, strict=True), spike_shapes, strict=True)
        ]
    outputs = []
    for name, value, dtype, dims in finals:
        build.nodes.append(helper.make_node("Identity", [value], [name]))
        outputs.append(helper.make_tensor_value_info(name, dtype, dims))
    graph = helper.make_graph(build.nodes, "cfsnn_integer", inputs, outputs, build.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="cfsnn")
    props = {
        "cfsnn_mode": mode,
        "cfsnn_input_step": repr(program.input_step),
        "cfsnn_output_unit": repr(program.output_unit),
        "cfsnn_v_init": json.dumps([program.tensors[op["v_init"]].tolist() for op in program.neuron_ops()]),
        **({"cfsnn_timesteps": str(timesteps)} if mode == "unrolled" else {}),
        **metadata,
    }
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model.SerializeToString()
