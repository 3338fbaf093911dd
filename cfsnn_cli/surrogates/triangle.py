"""The triangle surrogate, `kind = "triangle"`."""

import torch

from cfsnn_cli.surrogates.base import Surrogate
from cfsnn_cli.surrogates.registry import SURROGATES


@SURROGATES.register("triangle")
class TriangleSurrogate(Surrogate):
    """F'(z) = max(0, 1 − |z|): σ'_α(u) is a triangle of height α and half-width 1/α; F is its
    piecewise-quadratic integral.

    Args:
        alpha: the initial sharpness α > alpha_min, in 1/(units of H); None means 1.0.
        alpha_min: the floor a learned α stays above, ≥ 0.
        learnable: "none" (α fixed), "layer" (one α for the layer) or "timestep" (one α per step).
        timesteps: T, the number of steps; needed by learnable = "timestep" (recipes fill it in
            from data.timesteps).
        lr_scale: s > 0, how many times faster than the other parameters a learned α moves
            under AdamW (see `Surrogate`); 1 is the plain parameterisation.
    """

    default_alpha = 1.0

    @staticmethod
    def primitive(z: torch.Tensor) -> torch.Tensor:
        z = z.clamp(-1, 1)
        return torch.where(z <= 0, 0.5 * (z + 1) ** 2, 1 - 0.5 * (1 - z) ** 2)

    @staticmethod
    def derivative(z: torch.Tensor) -> torch.Tensor:
        return (1 - z.abs()).clamp_min(0)
