"""Surrogate gradients: one file per smooth primitive, registered by the recipe's `kind`."""

from typing import Any

# Importing a primitive registers it: adding a kind is one file and one line here.
from cfsnn_cli.surrogates.atan import AtanSurrogate
from cfsnn_cli.surrogates.base import LEARNABLE_MODES, Surrogate
from cfsnn_cli.surrogates.rectangle import RectangleSurrogate
from cfsnn_cli.surrogates.registry import SURROGATES
from cfsnn_cli.surrogates.sigmoid import SigmoidSurrogate
from cfsnn_cli.surrogates.triangle import TriangleSurrogate


def build_surrogate(kind: str = "sigmoid", **options: Any) -> Surrogate:
    """A fresh surrogate of `kind` (each neuron layer owns one; nothing is shared).

    Args:
        kind: a registered surrogate kind (`SURROGATES.kinds()`: atan, rectangle, sigmoid, triangle).
        **options: that kind's arguments (alpha, alpha_min, learnable, timesteps).

    Raises:
        CfsnnError: `kind` is unknown, or an option is out of its bounds.
    """
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
