"""The arctangent surrogate, `kind = "atan"`."""

import math

import torch

from cfsnn_cli.surrogates.base import Surrogate
from cfsnn_cli.surrogates.elementwise import constant
from cfsnn_cli.surrogates.registry import SURROGATES


@SURROGATES.register("atan")
class AtanSurrogate(Surrogate):
    """F(z) = atan(πz/2)/π + 1/2; σ'_α(u) = (α/2) / (1 + (παu/2)²) peaks at α/2 (SpikingJelly's ATan).

    Args: as in `Surrogate`, where alpha = None means α = 2.0.
    """

    default_alpha = 2.0

    @staticmethod
    def primitive(z: torch.Tensor) -> torch.Tensor:
        return torch.atan(z * (math.pi / 2)) / math.pi + 0.5

    @staticmethod
    def derivative(z: torch.Tensor) -> torch.Tensor:
        u = z * constant(math.pi / 2, z)
        return constant(0.5, z) / (constant(1.0, z) + u * u)
