"""The sigmoid surrogate, `kind = "sigmoid"`."""

import torch

from cfsnn_cli.surrogates.base import Surrogate
from cfsnn_cli.surrogates.elementwise import constant, sigmoid
from cfsnn_cli.surrogates.registry import SURROGATES


@SURROGATES.register("sigmoid")
class SigmoidSurrogate(Surrogate):
    """F(z) = sigmoid(z); σ'_α(u) = α·s(1 − s) peaks at α/4.

    Args: as in `Surrogate`, where alpha = None means α = 4.0.
    """

    default_alpha = 4.0

    @staticmethod
    def primitive(z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z)

    @staticmethod
    def derivative(z: torch.Tensor) -> torch.Tensor:
        s = sigmoid(z)
        return s * (constant(1.0, z) - s)
