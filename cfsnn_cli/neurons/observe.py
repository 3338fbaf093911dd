"""Statistics the neurons produce while they run, for whoever asks (the balanced loss, the
spike profiler). Asking is a context, not module state: outside `observe()` nothing is recorded."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class LayerObservation:
    """One neuron layer's pass over a sequence.

    `positive` and `negative` are Σ relu(H) and Σ relu(−H) per channel (the layer's `channel_dim`
    of x_seq, dim 2 unless the model says otherwise, or a single channel for [T, B] inputs) over
    time, batch and space (or tokens), each from `elements_per_channel` values. They keep their
    autograd link to the neuron input; they are empty (and `elements_per_channel` 0) inside
    `observe(membrane=False)`. `spike_events` is Σ|N| (detached, float64: exact counts
    whatever the spikes' dtype).
    """

    layer: nn.Module
    positive: torch.Tensor
    negative: torch.Tensor
    elements_per_channel: int
    spike_events: torch.Tensor
    neurons: int  # B × (neurons of one sample), for firing rates


@dataclass
class Observations:
    """What `observe()` collected: one `LayerObservation` per neuron layer call, in call order."""

    layers: list[LayerObservation] = field(default_factory=list)
    membrane: bool = True  # whether layers record Σrelu(±H) as well as their spikes


_current: ContextVar[Observations | None] = ContextVar("cfsnn_observations", default=None)


@contextmanager
def observe(membrane: bool = True) -> Iterator[Observations]:
    """Record every neuron layer that runs inside the block.

    Blocks nest: a layer reports to the innermost one. Outside every block nothing is recorded.

    Args:
        membrane: also record the membrane sums Σrelu(±H) that the balanced loss and the profiler
            read; False records spike counts alone, which a firing rate needs, and spares the
            kernels a pass of sums (a third of an evaluation's time on the CPU).

    Yields:
        The `Observations` that each neuron layer run inside the block appends to.

    Example:
        ```python
        with observe() as seen:
            logits = model(x_seq)
        loss = objective(logits, y, seen)
        ```
    """
    seen = Observations(membrane=membrane)
    with observing(seen):
        yield seen


@contextmanager
def observing(seen: Observations | None) -> Iterator[None]:
    """Let the layers run inside the block report to `seen` (None: to nobody), whatever block is
    open around it: how a block run again in backward keeps its records out of the first run's
    (engine/recompute.py)."""
    token = _current.set(seen)
    try:
        yield
    finally:
        _current.reset(token)


def current_observations() -> Observations | None:
    """The collection of the innermost open `observe()` block, or None outside one."""
    return _current.get()
