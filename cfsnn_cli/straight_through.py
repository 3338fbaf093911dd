"""Rounding that passes gradients straight through (the straight-through estimator): the forward
value is the rounded one, the backward treats the rounding as the identity."""

import torch


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """round(x) (half to even, as NumPy and ONNX's Round) forward, the identity backward."""
    return x + (torch.round(x) - x).detach()


def floor_ste(x: torch.Tensor) -> torch.Tensor:
    """floor(x) forward, the identity backward."""
    return x + (torch.floor(x) - x).detach()


def trunc_ste(x: torch.Tensor) -> torch.Tensor:
    """trunc(x) (toward zero) forward, the identity backward."""
    return x + (torch.trunc(x) - x).detach()
