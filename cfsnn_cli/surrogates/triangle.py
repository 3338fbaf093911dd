"""The triangle surrogate, `kind = "triangle"`."""

import torch

from cfsnn_cli.surrogates.base import Surrogate
from cfsnn_cli.surrogates.elementwise import constant, positive_part
from cfsnn_cli.surrogates.registry import SURROGATES


@SURROGATES.register("triangle")
class TriangleSurrogate(Surrogate):
    """F'(z) = max(0, 1 − |z|): σ'_α(u) is a triangle of height α and half-width 1/α; F is its
    piecewise-quadratic integral.

    Args: as in `Surrogate`, where alpha = None means α = 1.0.
    """

    default_alpha = 1.0

    @staticmethod
    def primitive(z: torch.Tensor) -> torch.Tensor:
        z = z.clamp(-1, 1)
        return torch.where(z <= 0, 0.5 * (z + 1) ** 2, 1 - 0.5 * (1 - z) ** 2)

    @staticmethod
    def derivative(z: torch.Tensor) -> torch.Tensor:
        return positive_part(constant(1.0, z) - abs(z))
