"""The arctangent surrogate, `kind = "atan"`."""

import math

import torch

from cfsnn_cli.surrogates.base import Surrogate
from cfsnn_cli.surrogates.registry import SURROGATES


@SURROGATES.register("atan")
class AtanSurrogate(Surrogate):
    """F(z) = atan(πz/2)/π + 1/2; σ'_α(u) = (α/2) / (1 + (παu/2)²) peaks at α/2 (SpikingJelly's ATan).

    Args:
        alpha: the initial sharpness α > alpha_min, in 1/(units of H); None means 2.0.
        alpha_min: the floor a learned α stays above, ≥ 0.
        learnable: "none" (α fixed), "layer" (one α for the layer) or "timestep" (one α per step).
        timesteps: T, the number of steps; needed by learnable = "timestep" (recipes fill it in
            from data.timesteps).
        lr_scale: s > 0, how many times faster than the other parameters a learned α moves
            under AdamW (see `Surrogate`); 1 is the plain parameterisation.
    """

    default_alpha = 2.0

    @staticmethod
    def primitive(z: torch.Tensor) -> torch.Tensor:
        return torch.atan(z * (math.pi / 2)) / math.pi + 0.5

    @staticmethod
    def derivative(z: torch.Tensor) -> torch.Tensor:
        return 0.5 / (1 + (z * (math.pi / 2)) ** 2)
