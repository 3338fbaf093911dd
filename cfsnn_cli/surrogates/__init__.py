"""Surrogate gradients: one file per smooth primitive, registered by the recipe's `kind`."""

# Importing a primitive registers it: adding a kind is one file and one line here.
from cfsnn_cli.surrogates.atan import AtanSurrogate
from cfsnn_cli.surrogates.base import LEARNABLE_MODES, Surrogate
from cfsnn_cli.surrogates.rectangle import RectangleSurrogate
from cfsnn_cli.surrogates.registry import SURROGATES
from cfsnn_cli.surrogates.sigmoid import SigmoidSurrogate
from cfsnn_cli.surrogates.triangle import TriangleSurrogate


def build_surrogate(kind: str = "sigmoid", **options) -> Surrogate:
    """A fresh surrogate of `kind` (each neuron layer owns one; nothing is shared)."""
    return SURROGATES.get(kind)(**options)


__all__ = [
    "LEARNABLE_MODES",
    "SURROGATES",
    "AtanSurrogate",
    "RectangleSurrogate",
    "SigmoidSurrogate",
    "Surrogate",
    "TriangleSurrogate",
    "build_surrogate",
]
