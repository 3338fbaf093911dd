"""ONNX export of a model's inference path, in two modes (docs/export.md):

- `step`: one time step; inputs `x` [B, ...] and the states `v_0` … `v_{L−1}` (the membrane
  potentials of the L neuron layers, and after `v_i` an `r_i` for a recurrent layer i: its spikes
  of the step before, zeros at the start), outputs `logits` [B, K], the new states `v_0_next` …
  (`r_i_next` equals `spikes_i`) and each layer's spikes `spikes_0` …; the caller loops over any T.
- `unrolled`: the whole sequence for a fixed T; input `x` [T, B, ...], outputs `logits` [T, B, K]
  and `spikes_0` … [T, B, ...].

Both are exported from `engine.step` (no autograd Function) with `torch.onnx.export`'s
`torch.export`-based exporter, the batch dimension dynamic.
"""

import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from cfsnn_cli.atomic import atomic_write_bytes
from cfsnn_cli.engine.step import initial_states, named_initial_states, step_model
from cfsnn_cli.neurons.layers import neuron_layers

MODES = ("step", "unrolled")


class StepGraph(nn.Module):
    """(x_t, V_{t−1} of every layer) → (logits_t, V_t of every layer, N_t of every layer)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, new_states, spikes = step_model(self.model, x, list(states), with_spikes=True)
        return (logits, *new_states, *spikes)


class UnrolledGraph(nn.Module):
    """x_seq [T, B, ...] → (logits [T, B, K], N of every layer [T, B, ...]), the T steps unrolled."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x_seq: torch.Tensor) -> tuple[torch.Tensor, ...]:
        states = initial_states(self.model, x_seq[0])
        logits, spikes = [], []
        for x_t in x_seq:
            logits_t, states, spikes_t = step_model(self.model, x_t, states, with_spikes=True)
            logits.append(logits_t)
            spikes.append(spikes_t)
        return (torch.stack(logits), *(torch.stack(layer) for layer in zip(*spikes, strict=True)))


def graph_io_names(layers: int, states: list[str], mode: str) -> tuple[list[str], list[str]]:
    """The graph's input and output names for a model with `layers` neuron layers and these states."""
    spikes = [f"spikes_{i}" for i in range(layers)]
    if mode == "step":
        return ["x", *states], ["logits", *(f"{state}_next" for state in states), *spikes]
    return ["x"], ["logits", *spikes]


def export_onnx(
    model: nn.Module,
    input_shape: tuple[int, ...],
    path: Path,
    mode: str,
    timesteps: int,
    opset: int,
    metadata: dict[str, str] | None = None,
) -> dict:
    """Export `model` (eval mode, CPU) to `path` (atomically) and return a summary of the graph.

    Args:
        model: a model of the zoo, loaded by `load_model`.
        input_shape: one step's input shape without batch.
        path: the `.onnx` file to write.
        mode: "step" or "unrolled".
        timesteps: T of the unrolled graph (unused by `step`).
        opset: the ONNX opset version.
        metadata: more entries for the graph's metadata_props (the recipe, the class names).
    """
    from torch.export import Dim

    batch = Dim("batch", min=1, max=1 << 16)
    example_x = torch.rand(2, *input_shape)
    layers = len(neuron_layers(model))
    named_states = named_initial_states(model, example_x)
    input_names, output_names = graph_io_names(layers, list(named_states), mode)
    if mode == "step":
        graph = StepGraph(model).eval()
        states = list(named_states.values())
        args = (example_x, *states)
        dynamic_shapes = ({0: batch}, tuple({0: batch} for _ in states))  # forward(x, *states)
    else:
        graph = UnrolledGraph(model).eval()
        args = (torch.rand(timesteps, *example_x.shape),)
        dynamic_shapes = ({1: batch},)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            graph,
            args,
            dynamo=True,
            opset_version=opset,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=dynamic_shapes,
            optimize=True,
            verbose=False,
        )
    buffer = io.BytesIO()
    program.save(buffer)
    atomic_write_bytes(path, _with_metadata(buffer.getvalue(), model, mode, timesteps, metadata or {}))
    return {"inputs": input_names, "outputs": output_names, "neuron_layers": layers}


def _with_metadata(serialized: bytes, model: nn.Module, mode: str, timesteps: int, extra: dict[str, str]) -> bytes:
    """The graph with what a caller needs beside it in its metadata_props: the mode, T (unrolled)
    and each layer's V_0 (the `step` caller starts the state there)."""
    import onnx

    proto = onnx.load_from_string(serialized)
    props = {
        "cfsnn_mode": mode,
        "cfsnn_v_init": json.dumps([layer.rule.v_init for layer in neuron_layers(model)]),
        **({"cfsnn_timesteps": str(timesteps)} if mode == "unrolled" else {}),
        **extra,
    }
    onnx.helper.set_model_props(proto, props)
    return proto.SerializeToString()
