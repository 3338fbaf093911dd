"""Memory for compute: each block's forward is run again in backward instead of being kept
(`train.recompute_blocks`), so training holds one block's activations over all T steps at a time,
not every block's.

Backpropagation through time keeps, for every layer, its input and (for a neuron layer) its
potentials at every step: memory that grows with T and depth together. With this option a block
keeps only its input; in backward it runs again, from the same input under the same random state,
and its gradients are the plain path's bit for bit (tests/engine/test_recompute.py).

Two things must not happen twice when a block runs again: a batch norm's running statistics
would take the batch twice, and an `observe()` block would record its layers twice. Both are kept
to the first run: the rerun uses the batch statistics without updating the running ones, and its
neuron layers report to a throwaway collection of the same kind (so they compute the same graph).
"""

import contextlib
import functools

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from cfsnn_cli.neurons import SpikingNeuron
from cfsnn_cli.neurons.observe import Observations, current_observations, observing


def recompute_blocks(model: nn.Module) -> list[str]:
    """Make each block of `model` recompute its forward in backward; the blocks' names.

    Blocks are cut from every `nn.Sequential` that holds two or more spiking layers: each run of
    its elements up to and including one that holds a spiking layer is a block (a ResNet's stem,
    each residual block, a Spikformer encoder block, a conv–norm–neuron triple of a plain net).
    An element that is itself such a sequence is cut in turn rather than kept whole. The module
    tree, and so the state dict, is unchanged: the sequences' own `forward` is replaced. Outside
    training, or without gradients, they run as before.
    """
    chosen: list[str] = []
    _cut(model, "", chosen)
    return chosen


def _holds_neurons(module: nn.Module) -> bool:
    return any(isinstance(inner, SpikingNeuron) for inner in module.modules())


def _is_sequence_of_blocks(module: nn.Module) -> bool:
    return isinstance(module, nn.Sequential) and sum(map(_holds_neurons, module.children())) >= 2


def _cut(module: nn.Module, prefix: str, chosen: list[str]) -> None:
    if not _is_sequence_of_blocks(module):
        for name, child in module.named_children():
            _cut(child, f"{prefix}{name}.", chosen)
        return
    groups: list[tuple[list[nn.Module], bool]] = []  # (elements, recomputed)
    pending: list[tuple[str, nn.Module]] = []
    for name, child in module.named_children():
        if _is_sequence_of_blocks(child):
            if pending:
                groups.append(([c for _, c in pending], False))
                pending = []
            groups.append(([child], False))
            _cut(child, f"{prefix}{name}.", chosen)
            continue
        pending.append((name, child))
        if _holds_neurons(child):
            groups.append(([c for _, c in pending], True))
            names = [n for n, _ in pending]
            chosen.append(f"{prefix}{names[0]}" if len(names) == 1 else f"{prefix}{names[0]}-{names[-1]}")
            pending = []
    if pending:  # what follows the last spiking layer (a classifier's last linear layer)
        groups.append(([c for _, c in pending], False))
    module.forward = functools.partial(_forward_in_groups, module, groups)


def _forward_in_groups(sequence: nn.Sequential, groups, x):
    recomputing = sequence.training and torch.is_grad_enabled()
    for elements, recomputed in groups:
        x = _recomputed(elements, x) if recomputed and recomputing else _run(elements, x)
    return x


def _run(elements: list[nn.Module], x):
    for element in elements:
        x = element(x)
    return x


def _recomputed(elements: list[nn.Module], x):
    seen = current_observations()
    membrane = None if seen is None else seen.membrane
    return checkpoint(
        _run,
        elements,
        x,
        use_reentrant=False,
        context_fn=lambda: (contextlib.nullcontext(), _as_a_rerun(elements, membrane)),
    )


@contextlib.contextmanager
def _as_a_rerun(elements: list[nn.Module], membrane: bool | None):
    """While a block runs again in backward: batch norms leave their running statistics as the
    first run left them, and neuron layers report to a throwaway collection (or to none, as in
    the first run)."""
    norms = [
        module
        for element in elements
        for module in element.modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats
    ]
    # A momentum of 0 makes the update r ← (1 − 0)·r + 0·batch, which keeps r; the norms still run
    # as in the first run (turning tracking off would save other tensors, which checkpoint refuses)
    kept = [(norm.momentum, norm.num_batches_tracked.clone()) for norm in norms]
    for norm in norms:
        norm.momentum = 0.0
    recording = observing(Observations(membrane=membrane)) if membrane is not None else observing(None)
    try:
        with recording:
            yield
    finally:
        for norm, (momentum, batches) in zip(norms, kept, strict=True):
            norm.momentum = momentum
            norm.num_batches_tracked.copy_(batches)
