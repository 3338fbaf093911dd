"""The sigmoid surrogate, `kind = "sigmoid"`."""

import torch

from cfsnn_cli.surrogates.base import Surrogate
from cfsnn_cli.surrogates.registry import SURROGATES


@SURROGATES.register("sigmoid")
class SigmoidSurrogate(Surrogate):
    """F(z) = sigmoid(z); σ'_α(u) = α·s(1 − s) peaks at α/4.

    Args:
        alpha: the initial sharpness α > alpha_min, in 1/(units of H); None means 4.0.
        alpha_min: the floor a learned α stays above, ≥ 0.
        learnable: "none" (α fixed), "layer" (one α for the layer) or "timestep" (one α per step).
        timesteps: T, the number of steps; needed by learnable = "timestep" (recipes fill it in
            from data.timesteps).
        lr_scale: s > 0, how many times faster than the other parameters a learned α moves
            under AdamW (see `Surrogate`); 1 is the plain parameterisation.
    """

    default_alpha = 4.0

    @staticmethod
    def primitive(z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z)

    @staticmethod
    def derivative(z: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(z)
        return s.sub_(s * s)  # s(1 − s) with one temporary
