import torch

from cfsnn_cli.surrogates.base import Surrogate
from cfsnn_cli.surrogates.registry import SURROGATES


@SURROGATES.register("rectangle")
class RectangleSurrogate(Surrogate):
    """F(z) = clamp(z + 1/2, 0, 1): σ'_α(u) = α on |u| < 1/(2α), 0 elsewhere (the straight-through box)."""

    default_alpha = 1.0

    @staticmethod
    def primitive(z: torch.Tensor) -> torch.Tensor:
        return (z + 0.5).clamp(0, 1)

    @staticmethod
    def derivative(z: torch.Tensor) -> torch.Tensor:
        return (z.abs() < 0.5).to(z.dtype)
