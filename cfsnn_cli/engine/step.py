"""Step-by-step inference: one time step of a whole model with every membrane potential passed in
and out explicitly (Norse's functional style), for streaming input and ONNX's `step` mode.

The model's own modules run on a sequence of length T = 1 while each neuron layer, instead of its
autograd kernel, takes V_{t−1} from the state list and returns V_t through `SpikingNeuron.step`:
the same equations, no autograd Function, no state left on any module. A recurrent layer (one run
with a feedback) has one more state after its V: its spikes N_{t−1}, which its feedback reads.

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
from cfsnn_cli.neurons.layers import neuron_layers
from cfsnn_cli.neurons.stepwise import Feedback


@dataclass
class _StepRun:
    """The states read and written during one step, in the order the neuron layers run."""

    given: list[torch.Tensor] | None
    written: list[torch.Tensor] = field(default_factory=list)
    spikes: list[torch.Tensor] = field(default_factory=list)
    initial: list[torch.Tensor] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # `v_i` for V of layer i, `r_i` for its N_{t−1}
    taken: int = 0

    def take(self, initial: torch.Tensor, name: str) -> torch.Tensor:
        """The next state in the list, or `initial` (kept, named) on the pass that makes them."""
        self.taken += 1
        if self.given is None:
            self.initial.append(initial)
            self.names.append(name)
            return initial
        if self.taken > len(self.given):
            raise CfsnnError("states", f"holds {len(self.given)} states but the model has more")
        return self.given[self.taken - 1]


@contextmanager
def _stepping(model: nn.Module, run: _StepRun) -> Iterator[None]:
    """Within the block, each neuron layer maps a [1, B, ...] input to its spikes through `step`."""
    layers = neuron_layers(model)

    def stepper(neuron: SpikingNeuron, index: int):
        def forward(x_seq: torch.Tensor, feedback: Feedback | None = None) -> torch.Tensor:
            x_t = x_seq[0]
            v = run.take(neuron.initial_state(x_t), f"v_{index}")
            if feedback is not None:
                x_t = x_t + feedback(run.take(torch.zeros_like(x_t), f"r_{index}"))
            n, v_next = neuron.step(x_t, v)
            run.written.append(v_next)
            if feedback is not None:
                run.written.append(n)
            run.spikes.append(n)
            return n.unsqueeze(0)

        return forward

    for index, layer in enumerate(layers):
        layer.forward = stepper(layer, index)  # an instance attribute, removed below: the class is untouched
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
        raise CfsnnError("states", f"holds {len(states)} states but the model has {len(run.written)}")
    return logits, run


def named_initial_states(model: nn.Module, x_t: torch.Tensor) -> dict[str, torch.Tensor]:
    """V_0 of every neuron layer (each filled with its v_init), and after the V_0 of each recurrent
    layer its N_0 = 0, shaped for one step's input x_t [B, ...] and named `v_i` (the potential of
    neuron layer i, in registration order) and `r_i` (the previous spikes of recurrent layer i).

    Args:
        model: a model mapping x_seq [T, B, ...] to per-step logits (any model of the zoo).
        x_t: one step's input [B, *input_shape]; only its shape, dtype and device are used.
    """
    with torch.no_grad():
        _, run = _run_step(model, x_t, None)
    return dict(zip(run.names, run.initial, strict=True))


def initial_states(model: nn.Module, x_t: torch.Tensor) -> list[torch.Tensor]:
    """`named_initial_states` as the list `step_model` takes."""
    return list(named_initial_states(model, x_t).values())


def step_model(
    model: nn.Module, x_t: torch.Tensor, states: list[torch.Tensor], with_spikes: bool = False
) -> tuple[torch.Tensor, list[torch.Tensor]] | tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """One time step of the whole model: (logits_t, the new states) from x_t and the states of t − 1.

    Args:
        model: a model mapping x_seq [T, B, ...] to per-step logits, in eval mode (batch norm uses
            its running statistics, dropout is off).
        x_t: one step's input [B, *input_shape].
        states: V_{t−1} of every neuron layer (and N_{t−1} of each recurrent one), as
            `initial_states` or the previous call returned them.
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
