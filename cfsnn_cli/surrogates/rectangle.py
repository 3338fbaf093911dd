"""The rectangle surrogate, `kind = "rectangle"`."""

import torch

from cfsnn_cli.surrogates.base import Surrogate
from cfsnn_cli.surrogates.elementwise import constant, step
from cfsnn_cli.surrogates.registry import SURROGATES


@SURROGATES.register("rectangle")
class RectangleSurrogate(Surrogate):
    """F(z) = clamp(z + 1/2, 0, 1): σ'_α(u) = α on |u| < 1/(2α), 0 elsewhere (the straight-through box).

    Args: as in `Surrogate`, where alpha = None means α = 1.0.
    """

    default_alpha = 1.0

    @staticmethod
    def primitive(z: torch.Tensor) -> torch.Tensor:
        return (z + 0.5).clamp(0, 1)

    @staticmethod
    def derivative(z: torch.Tensor) -> torch.Tensor:
        return step(constant(0.5, z) - abs(z))
