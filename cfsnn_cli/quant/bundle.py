"""The tensors of an integer bundle: the integer program's (`program.` + its tensor's name) and,
under `model.`, what the fake-quantised PyTorch model holds beyond the program's integers (steps,
neuron parameters, surrogates) so that `load_model` can rebuild that model from the bundle alone:
its conv and linear weights and biases are the integers times their steps, which round back to
the same integers, so the rebuilt model computes the program's spikes.
"""

import json
from typing import Any

import numpy as np
import torch
from torch import nn

from cfsnn_cli.quant.program import IntegerProgram

PROGRAM_PREFIX, MODEL_PREFIX = "program.", "model."
PROGRAM_KEY = "integer_program"  # the metadata entry holding the program's operations


def _synapse_keys(program: IntegerProgram) -> dict[str, tuple[dict[str, Any], str]]:
    """state-dict key → (its op, "weight" or "bias") for every conv and linear layer."""
    keys = {}
    for op in program.ops:
        if op["op"] in ("conv", "linear"):
            keys[f"{op['name']}.weight"] = (op, "weight")
            keys[f"{op['name']}.bias"] = (op, "bias")
    return keys


def bundle_tensors(program: IntegerProgram, model: nn.Module) -> dict[str, torch.Tensor]:
    """The integer program's tensors and the model's other state, each under its prefix."""
    synapses = _synapse_keys(program)
    tensors = {PROGRAM_PREFIX + name: torch.from_numpy(value) for name, value in program.tensors.items()}
    tensors |= {MODEL_PREFIX + key: value for key, value in model.state_dict().items() if key not in synapses}
    return tensors


def read_bundle(tensors: dict[str, torch.Tensor], header: str) -> tuple[IntegerProgram, dict[str, torch.Tensor]]:
    """(the program, the fake-quantised model's state dict rebuilt) from a bundle's tensors and its
    `integer_program` metadata entry."""
    program = IntegerProgram.from_header(
        json.loads(header),
        {
            name[len(PROGRAM_PREFIX) :]: value.numpy()
            for name, value in tensors.items()
            if name.startswith(PROGRAM_PREFIX)
        },
    )
    state = {name[len(MODEL_PREFIX) :]: value for name, value in tensors.items() if name.startswith(MODEL_PREFIX)}
    for key, (op, part) in _synapse_keys(program).items():
        module = op["name"]
        weight_step = state[f"{module}.weight_step"]
        integers = torch.from_numpy(program.tensors[op[part]].astype(np.float64))
        if part == "weight":
            value = integers * weight_step.reshape(-1, *([1] * (integers.dim() - 1)))
        else:
            value = integers * weight_step * state[f"{module}.input_step"]
        state[key] = value.float()
    return program, state
