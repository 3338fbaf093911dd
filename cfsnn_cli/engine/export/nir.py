"""NIR export, exact or refused (docs/export.md).

NIR 1.0.x neurons are continuous-time ODEs with binary spikes z = [v > v_threshold] and a reset to
v_reset; there is no subtractive reset and no signed or multi-level spike. cfsnn's discrete
hard-reset LIF, H_t = β·V_{t−1} + X_t, is that ODE under forward Euler with snnTorch's convention:

    dt (recorded in metadata), τ = dt/(1 − β), r = τ/dt, v_leak = 0
    → v ← v + dt/τ·(v_leak − v + r·I) = β·v + I

and IF (β = 1) is `nir.IF` with r = 1/dt (v ← v + dt·r·I = v + I). Batch norm is folded first.
Everything else — a soft reset, a CF neuron (signed, multi-level, subtractive), learned or
non-zero initial potentials, residual wiring, max or adaptive pooling — is refused with the reason.
The one difference that remains: cfsnn fires at H ≥ θ, NIR at v > θ, so a potential exactly on
the threshold fires here and not there.

A recurrent layer is a cycle, neuron → Linear(W_rec) → the same neuron, NIR's way of writing
recurrence (snnTorch exports its RLeaky so); a discrete-time reader evaluates the cycle's Linear on
the spikes of the step before, which is cfsnn's N_{t−1} feedback.
"""

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cfsnn_cli.atomic import atomic_write_bytes
from cfsnn_cli.engine.export.bundle import folded_copy
from cfsnn_cli.engine.model_file import ModelCheckpoint
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.models.blocks import RecurrentSpiking, SequenceDropout, TimeFolded
from cfsnn_cli.neurons.base import SpikingNeuron

DT = 1e-4  # the time step recorded in every neuron node (snnTorch's convention)


def _refuse(problem: str) -> CfsnnError:
    return CfsnnError("fmt", f"nir cannot express this model exactly: {problem}")


def _chain(module: nn.Module) -> list[nn.Module]:
    """The model as a plain chain of layers, or a refusal when it is not one."""
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _chain(child)]
    if isinstance(module, TimeFolded):
        return _chain(module.layer)
    if isinstance(module, SequenceDropout | nn.Identity):
        return []  # identity in eval mode
    if isinstance(module, SpikingNeuron | RecurrentSpiking | nn.Conv2d | nn.Linear | nn.Flatten | nn.AvgPool2d):
        return [module]
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        raise _refuse("a batch norm that follows no conv or linear layer cannot be folded")
    kind = type(module).__name__
    if list(module.children()):
        raise _refuse(f"{kind} is not a plain chain of layers (NIR export takes the chains: mlp, convnet, vggsnn)")
    raise _refuse(f"NIR 1.0 has no node for {kind}")


def _neuron_node(neuron: SpikingNeuron, shape: tuple[int, ...], name: str):
    import nir

    rule = neuron.rule
    if rule.levels > 1 or rule.bipolar:
        raise _refuse(f"{name} fires signed or multi-level spikes; NIR 1.0 spikes are 0/1 (z = v > v_threshold)")
    if not rule.hard_reset:
        raise _refuse(f"{name} resets by subtraction (soft reset); NIR 1.0 neurons only reset to v_reset")
    if rule.v_init != 0:
        raise _refuse(f"{name} starts at v_init = {rule.v_init:g}; NIR neurons start at 0")
    beta = float(neuron.decay_value())
    threshold = float(neuron.threshold_value())
    full = lambda value: np.full(shape, value, dtype=np.float32)  # noqa: E731
    metadata = {"dt": DT, "discretization": "euler", "cfsnn_beta": beta, "cfsnn_fires_at": "h >= threshold"}
    if beta == 1.0:
        return nir.IF(r=full(1 / DT), v_threshold=full(threshold), v_reset=full(rule.v_reset), metadata=metadata)
    if not 0 < beta < 1:
        raise _refuse(f"{name} has decay β = {beta:g}; a LIF node needs 0 < β < 1")
    tau = DT / (1 - beta)
    return nir.LIF(
        tau=full(tau),
        r=full(tau / DT),
        v_leak=full(0.0),
        v_threshold=full(threshold),
        v_reset=full(rule.v_reset),
        metadata=metadata,
    )


def _array(value) -> np.ndarray:
    return np.asarray(value if isinstance(value, tuple | list) else (value, value), dtype=np.int64)


def _node(layer: nn.Module, shape: tuple[int, ...], name: str):
    """The NIR node of one layer, given one step's input shape (without batch)."""
    import nir

    if isinstance(layer, SpikingNeuron):
        return _neuron_node(layer, shape, name)
    if isinstance(layer, RecurrentSpiking):
        return _neuron_node(layer.neuron, shape, name)
    if isinstance(layer, nn.Linear):
        weight = layer.weight.detach().numpy()
        bias = layer.bias.detach().numpy() if layer.bias is not None else np.zeros(weight.shape[0], np.float32)
        return nir.Affine(weight=weight, bias=bias)
    if isinstance(layer, nn.Conv2d):
        if layer.padding_mode != "zeros":
            raise _refuse(f"{name} pads with {layer.padding_mode!r}; NIR convolutions pad with zeros")
        bias = layer.bias.detach().numpy() if layer.bias is not None else np.zeros(layer.out_channels, np.float32)
        return nir.Conv2d(
            input_shape=tuple(shape[1:]),
            weight=layer.weight.detach().numpy(),
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            groups=layer.groups,
            bias=bias,
        )
    if isinstance(layer, nn.Flatten):
        return nir.Flatten(input_type={"input": np.asarray(shape)}, start_dim=0, end_dim=-1)
    if isinstance(layer, nn.AvgPool2d):
        if layer.ceil_mode or (layer.padding not in (0, (0, 0)) and not layer.count_include_pad):
            raise _refuse(f"{name} is an average pooling NIR's AvgPool2d does not describe")
        return nir.AvgPool2d(
            kernel_size=_array(layer.kernel_size), stride=_array(layer.stride), padding=_array(layer.padding)
        )
    raise _refuse(f"NIR 1.0 has no node for {type(layer).__name__}")


def model_to_nir(model: nn.Module, input_shape: tuple[int, ...]):
    """The `nir.NIRGraph` of a chain model (batch norm already folded), or a CfsnnError saying why not."""
    import nir

    layers = _chain(model)
    if not any(isinstance(layer, SpikingNeuron | RecurrentSpiking) for layer in layers):
        raise _refuse("it has no neuron layer")
    nodes = {"input": nir.Input(input_type={"input": np.asarray(input_shape)})}
    edges = []
    previous, shape = "input", tuple(input_shape)
    names = {module: name for name, module in model.named_modules()}
    for index, layer in enumerate(layers):
        name = f"{index}_{type(layer).__name__.lower()}"
        nodes[name] = _node(layer, shape, f"layer {names.get(layer, name)} ({type(layer).__name__})")
        edges.append((previous, name))
        if isinstance(layer, RecurrentSpiking):
            nodes[f"{name}_recurrent"] = nir.Linear(weight=layer.recurrent.weight.detach().numpy())
            edges += [(name, f"{name}_recurrent"), (f"{name}_recurrent", name)]
        previous = name
        if not isinstance(layer, SpikingNeuron | RecurrentSpiking):
            with torch.no_grad():
                shape = tuple(layer(torch.zeros(1, *shape)).shape[1:])
    nodes["output"] = nir.Output(output_type={"output": np.asarray(shape)})
    edges.append((previous, "output"))
    metadata = {"producer": "cfsnn", "dt": DT, "spike_rule": "cfsnn fires at h >= threshold, NIR at v > threshold"}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def export_nir(checkpoint: ModelCheckpoint, model: nn.Module, path: Path) -> dict:
    """Write the folded model as a NIR graph to `path` (atomically); refuse what NIR cannot express."""
    import nir

    graph = model_to_nir(folded_copy(model).cpu(), checkpoint.input_shape)
    buffer = io.BytesIO()
    nir.write(buffer, graph)
    atomic_write_bytes(path, buffer.getvalue())
    kinds = [type(node).__name__ for node in graph.nodes.values()]
    return {"nodes": len(kinds), "neurons": sum(kind in ("LIF", "IF") for kind in kinds), "dt": DT}
