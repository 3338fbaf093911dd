"""The firing rule shared by every neuron kind: how a membrane potential H becomes spikes N and
how the potential is reset. A plain value; the kernel and the reference both read it."""

from dataclasses import dataclass

import torch

from cfsnn_cli.surrogates import Surrogate


@dataclass(frozen=True, eq=False)
class FiringRule:
    """The firing and reset options of one neuron layer (see `SpikingNeuron` for their meaning)."""

    levels: int  # D: how many times the potential may circulate through fire-and-subtract per step
    bipolar: bool  # negative crossings fire −1, −2, … as well
    hard_reset: bool  # V = H(1 − S) + v_reset·S instead of V = H − θ·N
    v_reset: float
    detach_reset: bool
    v_init: float
    surrogate: Surrogate

    def count(self, h: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        """N = sign(H)·min(floor(|H|/θ), D) (bipolar) or min(floor(max(H,0)/θ), D).

        sign(H)·floor(|H|/θ) is trunc(H/θ), so either is one division, one rounding and one clamp,
        whatever D is.
        """
        ratio = h / threshold
        if self.bipolar:
            return ratio.trunc_().clamp_(-self.levels, self.levels)
        return ratio.floor_().clamp_(0, self.levels)

    def reset(self, h: torch.Tensor, n: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        """V after firing: the rest above the crossings is kept (soft) or replaced by v_reset (hard)."""
        if self.hard_reset:
            return h - n * (h - self.v_reset)
        return h - threshold * n
