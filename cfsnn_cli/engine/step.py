"""Step-by-step inference: one time step of a whole model with every membrane potential passed in
and out explicitly (Norse's functional style), for streaming input and ONNX's `step` mode.

The model's own modules run on a sequence of length T = 1 while each neuron layer, instead of its
autograd kernel, takes V_{t−1} from the state list and returns V_t through `SpikingNeuron.step`:
the same equations, no autograd Function, no state left on any module.

    states = initial_states(model, x_seq[0])
    for x_t in x_seq:
        logits_t, states = step_model(model, x_t, states)
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.neurons.base import SpikingNeuron


@dataclass
class _StepRun:
    """The states read and written during one step, in the order the neuron layers run."""

    given: list[torch.Tensor] | None
    written: list[torch.Tensor] = field(default_factory=list)
    spikes: list[torch.Tensor] = field(default_factory=list)
    initial: list[torch.Tensor] = field(default_factory=list)


def neuron_layers(model: nn.Module) -> list[SpikingNeuron]:
    """The model's neuron layers in registration order."""
    return [module for module in model.modules() if isinstance(module, SpikingNeuron)]


@contextmanager
def _stepping(model: nn.Module, run: _StepRun) -> Iterator[None]:
    """Within the block, each neuron layer maps a [1, B, ...] input to its spikes through `step`."""
    layers = neuron_layers(model)

    def stepper(neuron: SpikingNeuron):
        def forward(x_seq: torch.Tensor) -> torch.Tensor:
            x_t = x_seq[0]
            index = len(run.written)
            if run.given is None:
                v = neuron.initial_state(x_t)
                run.initial.append(v)
            else:
                if index >= len(run.given):
                    raise CfsnnError("states", f"holds {len(run.given)} states but the model has more neuron layers")
                v = run.given[index]
            n, v_next = neuron.step(x_t, v)
            run.written.append(v_next)
            run.spikes.append(n)
            return n.unsqueeze(0)

        return forward

    for layer in layers:
        layer.forward = stepper(layer)  # an instance attribute, removed below: the class is untouched
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


def _run_step(model: nn.Module, x_t: torch.Tensor, states: list[torch.Tensor] | None) -> tuple[torch.Tensor, _StepRun]:
    run = _StepRun(given=None if states is None else list(states))
    with _stepping(model, run):
        logits = model(x_t.unsqueeze(0))[0]
    if states is not None and len(run.written) != len(states):
        raise CfsnnError("states", f"holds {len(states)} states but the model has {len(run.written)} neuron layers")
    return logits, run


def initial_states(model: nn.Module, x_t: torch.Tensor) -> list[torch.Tensor]:
    """V_0 of every neuron layer (each filled with its v_init), shaped for one step's input x_t [B, ...].

    Args:
        model: a model mapping x_seq [T, B, ...] to per-step logits (any model of the zoo).
        x_t: one step's input [B, *input_shape]; only its shape, dtype and device are used.
    """
    with torch.no_grad():
        _, run = _run_step(model, x_t, None)
    return run.initial


def step_model(
    model: nn.Module, x_t: torch.Tensor, states: list[torch.Tensor], with_spikes: bool = False
) -> tuple[torch.Tensor, list[torch.Tensor]] | tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """One time step of the whole model: (logits_t, V_t of every layer) from x_t and V_{t−1}.

    Args:
        model: a model mapping x_seq [T, B, ...] to per-step logits, in eval mode (batch norm uses
            its running statistics, dropout is off).
        x_t: one step's input [B, *input_shape].
        states: V_{t−1} of every neuron layer, as `initial_states` or the previous call returned them.
        with_spikes: also return every layer's spikes N_t.

    Returns:
        The logits [B, K], the new states (same order and shapes), and with `with_spikes` the spikes.
    """
    logits, run = _run_step(model, x_t, states)
    if with_spikes:
        return logits, run.written, run.spikes
    return logits, run.written


def run_steps(model: nn.Module, x_seq: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The whole sequence one step at a time: per-step logits [T, B, K] and each layer's spikes [T, B, ...]."""
    states = initial_states(model, x_seq[0])
    logits, spikes = [], []
    for x_t in x_seq:
        logits_t, states, spikes_t = step_model(model, x_t, states, with_spikes=True)
        logits.append(logits_t)
        spikes.append(spikes_t)
    return torch.stack(logits), [torch.stack(layer) for layer in zip(*spikes, strict=True)]
