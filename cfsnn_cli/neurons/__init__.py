"""Spiking neurons: one file per kind, registered by the recipe's `kind`, all taking x_seq [T, B, ...]."""

from typing import Any

from cfsnn_cli.neurons.base import SpikingNeuron

# Importing a kind registers it.
from cfsnn_cli.neurons.cf import CFNeuron
from cfsnn_cli.neurons.lif import IFNeuron, LIFNeuron, PLIFNeuron
from cfsnn_cli.neurons.observe import LayerObservation, Observations, observe
from cfsnn_cli.neurons.registry import NEURONS


def build_neuron(kind: str = "cf", **options: Any) -> SpikingNeuron:
    """A fresh neuron layer of `kind` with its own parameters (and its own surrogate, if given one).

    Args:
        kind: a registered neuron kind (`NEURONS.kinds()`: cf, if, lif, plif).
        **options: that kind's constructor arguments (tau, threshold, levels, surrogate, …).

    Raises:
        CfsnnError: `kind` is unknown, or an option is out of its bounds.
    """
    return NEURONS.get(kind)(**options)


__all__ = [
    "NEURONS",
    "CFNeuron",
    "IFNeuron",
    "LIFNeuron",
    "LayerObservation",
    "Observations",
    "PLIFNeuron",
    "SpikingNeuron",
    "build_neuron",
    "observe",
]
