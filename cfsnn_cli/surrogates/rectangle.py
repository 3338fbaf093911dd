"""The rectangle surrogate, `kind = "rectangle"`."""

import torch

from cfsnn_cli.surrogates.base import Surrogate
from cfsnn_cli.surrogates.registry import SURROGATES


@SURROGATES.register("rectangle")
class RectangleSurrogate(Surrogate):
    """F(z) = clamp(z + 1/2, 0, 1): σ'_α(u) = α on |u| < 1/(2α), 0 elsewhere (the straight-through box).

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
        return (z + 0.5).clamp(0, 1)

    @staticmethod
    def derivative(z: torch.Tensor) -> torch.Tensor:
        return (z.abs() < 0.5).to(z.dtype)
