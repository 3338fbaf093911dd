"""What every surrogate shares: the learnable sharpness α and the gradients of the spike count.

A surrogate is a smooth primitive σ_α(u) = F(α·u) standing in for the Heaviside step Θ(u) in the
backward pass. Because every primitive has that form, one pair of functions per kind (F and F')
gives all three derivatives the neuron kernel needs:

    dσ/du = α·F'(α·u)          dσ/dα = u·F'(α·u)

The spike count of a circulate-firing neuron, N = Σ_k Θ(H − kθ) − Σ_k Θ(−H − kθ) (the second sum
only when bipolar), is replaced in backward by the same sums of σ_α, so dN/dH, dN/dθ and dN/dα
follow from the two lines above (see docs/method.md, section 2).
"""

from typing import Literal, get_args

import torch
from torch import nn

from cfsnn_cli.constants import constant_like
from cfsnn_cli.errors import CfsnnError, require
from cfsnn_cli.positive import inverse_softplus

Learnable = Literal["none", "layer", "timestep"]
LEARNABLE_MODES = get_args(Learnable)
"""The values `learnable` takes: "none", "layer" (one α per layer), "timestep" (one α per step)."""


class Surrogate(nn.Module):
    """Base class: subclasses set `default_alpha` and define `primitive` (F) and `derivative` (F').

    σ_α(u) = F(α·u), so a larger α is a narrower, taller surrogate gradient. A learned α is stored
    raw as p and read as α = alpha_min + softplus(s·p), started at `alpha`, with s = `lr_scale`.

    Args:
        alpha: the initial sharpness α > alpha_min, in 1/(units of H); None means the kind's `default_alpha`.
        alpha_min: the floor a learned α stays above, ≥ 0.
        learnable: "none" (α fixed), "layer" (one α for the layer) or "timestep" (one α per step).
        timesteps: T, the number of steps; needed by learnable = "timestep" (recipes fill it in
            from data.timesteps).
        lr_scale: s > 0, how much faster than the other parameters a learned α moves. The raw
            parameter is multiplied by s before the softplus, so Adam(W), whose step does not
            depend on the gradient's scale, moves softplus's argument s times as far per step:
            exactly a learning rate s times larger for α. (Under SGD the step grows by s².)
            1 (the default) is the plain parameterisation.
    """

    default_alpha: float = 4.0

    def __init__(
        self,
        alpha: float | None = None,
        alpha_min: float = 0.1,
        learnable: Learnable = "none",
        timesteps: int | None = None,
        lr_scale: float = 1.0,
    ):
        super().__init__()
        alpha = self.default_alpha if alpha is None else float(alpha)
        require(alpha_min >= 0, "alpha_min", f"must be >= 0 (got {alpha_min})")
        require(alpha > alpha_min, "alpha", f"must be > alpha_min = {alpha_min} (got {alpha})")
        require(lr_scale > 0, "lr_scale", f"must be > 0 (got {lr_scale})")
        require(
            learnable in LEARNABLE_MODES,
            "learnable",
            f"must be one of {', '.join(LEARNABLE_MODES)} (got {learnable!r})",
        )
        if learnable == "timestep":
            require(
                timesteps is not None and timesteps >= 1,
                "timesteps",
                "learnable = 'timestep' needs the number of time steps T >= 1",
            )
        self.alpha = alpha
        self.alpha_min = float(alpha_min)
        self.learnable = learnable
        self.lr_scale = float(lr_scale)
        self.timesteps = timesteps if learnable == "timestep" else None
        if learnable != "none":
            # Stored raw, read as alpha_min + softplus(lr_scale·raw): α stays above alpha_min whatever
            # the optimiser does, and lr_scale sets how fast Adam moves it.
            size = timesteps if learnable == "timestep" else 1
            self.raw_alpha = nn.Parameter(torch.full((size,), inverse_softplus(alpha - alpha_min) / self.lr_scale))

    # -- the primitive, per kind -------------------------------------------------------------
    @staticmethod
    def primitive(z: torch.Tensor) -> torch.Tensor:
        """F(z), rising from 0 to 1, elementwise."""
        raise NotImplementedError

    @staticmethod
    def derivative(z: torch.Tensor) -> torch.Tensor:
        """F'(z), elementwise (a new tensor: callers modify it in place). Written with arithmetic,
        `abs` and `surrogates.elementwise`, the same definition also compiles into the fused CPU
        kernel; one that calls torch directly runs on the `torch` backend only."""
        raise NotImplementedError

    # -- α ---------------------------------------------------------------------------------------
    def alpha_values(self) -> torch.Tensor:
        """The current α: shape [T] for per-step α, [1] otherwise."""
        if self.learnable == "none":
            return torch.tensor([self.alpha])
        return self.alpha_min + nn.functional.softplus(self.lr_scale * self.raw_alpha)

    def alpha_for(self, timesteps: int, like: torch.Tensor, needs_grad: bool) -> torch.Tensor:
        """α for an input of `timesteps` steps, on the device and dtype of `like`.

        Per-step α exists for the T it was built for. Backward at another T has no α for some
        steps, so that is refused; a forward-only pass never reads α, so any T works there.
        """
        if self.learnable == "none":
            return constant_like(self, "alpha", [self.alpha], like)
        alpha = self.alpha_values().to(device=like.device, dtype=like.dtype)
        if self.learnable == "timestep" and timesteps != self.timesteps:
            if needs_grad:
                raise CfsnnError(
                    "timesteps",
                    f"this layer learns one surrogate alpha per time step for T={self.timesteps}, "
                    f"but the input has T={timesteps}; train with T={self.timesteps} or rebuild the model",
                )
            return alpha.detach().mean().reshape(1)
        return alpha

    # -- the spike count and its gradients -------------------------------------------------------
    @staticmethod
    def _crossings(h: torch.Tensor, threshold: torch.Tensor, levels: int, bipolar: bool):
        """(distance to each crossing u_k, its sign in N): u = H − kθ (+1) and −H − kθ (−1)."""
        for k in range(1, levels + 1):
            yield k, h - k * threshold, 1.0
            if bipolar:
                yield k, -h - k * threshold, -1.0

    def smooth_count(self, h, threshold, alpha, levels: int, bipolar: bool) -> torch.Tensor:
        """Σ_k σ_α(H − kθ) − Σ_k σ_α(−H − kθ): the smooth stand-in for N, differentiable by autograd."""
        total = torch.zeros_like(h)
        for _, u, sign in self._crossings(h, threshold, levels, bipolar):
            total = total + sign * self.primitive(alpha * u)
        return total

    def count_vjp(
        self, grad_n, h, threshold, alpha, levels: int, bipolar: bool, need_threshold: bool, need_alpha: bool
    ):
        """Push dL/dN back through the smooth count: (dL/dH, dL/dθ, dL/dα), the last two 0-d or None.

        With z = α·u and F' = derivative(z), a crossing u = ±H − kθ that enters N with sign s
        contributes α·F' to dN/dH (the two signs cancel), −s·k·α·F' to dN/dθ and s·u·F' to dN/dα.
        Written as a vector-Jacobian product so that nothing the size of H is kept per crossing.
        """
        grad_h = torch.zeros_like(h)
        grad_threshold = h.new_zeros(()) if need_threshold else None
        grad_alpha = h.new_zeros(()) if need_alpha else None
        scaled = h * alpha  # α·H once; each crossing is then z = ±α·H − k·α·θ, one subtraction
        step = alpha * threshold
        for k in range(1, levels + 1):
            for sign in (1.0, -1.0) if bipolar else (1.0,):
                z = torch.sub(scaled, k * step) if sign > 0 else torch.add(scaled, k * step).neg_()
                weighted = self.derivative(z).mul_(grad_n)  # dL/dN · F'(z)
                grad_h += weighted
                if need_threshold:
                    grad_threshold -= (sign * k) * weighted.sum()
                if need_alpha:  # u = z/α
                    grad_alpha += sign * torch.dot(weighted.reshape(-1), z.reshape(-1)) / alpha
        grad_h *= alpha
        if need_threshold:
            grad_threshold *= alpha
        return grad_h, grad_threshold, grad_alpha

    def extra_repr(self) -> str:
        steps = f", timesteps={self.timesteps}" if self.timesteps else ""
        scale = f", lr_scale={self.lr_scale}" if self.lr_scale != 1.0 else ""
        return f"alpha={self.alpha}, alpha_min={self.alpha_min}, learnable={self.learnable!r}{steps}{scale}"
