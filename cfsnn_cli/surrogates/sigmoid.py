import torch

from cfsnn_cli.surrogates.base import Surrogate
from cfsnn_cli.surrogates.registry import SURROGATES


@SURROGATES.register("sigmoid")
class SigmoidSurrogate(Surrogate):
    """F(z) = sigmoid(z); σ'_α(u) = α·s(1 − s) peaks at α/4."""

    default_alpha = 4.0

    @staticmethod
    def primitive(z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z)

    @staticmethod
    def derivative(z: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(z)
        return s.sub_(s * s)  # s(1 − s) with one temporary
