"""Fixed numbers as tensors on the device, made once rather than on every forward."""

import torch
from torch import nn


def constant_like(owner: nn.Module, name: str, value, like: torch.Tensor) -> torch.Tensor:
    """`value` as a tensor on `like`'s device and dtype, kept on `owner` per value, device and
    dtype: `torch.tensor(value)` in a forward would allocate on the host and copy to the device
    each call. Keyed by the value too, so that changing the attribute takes effect. Not a buffer,
    so never in a state_dict."""
    made = owner.__dict__.setdefault("_constants", {})
    key = (name, repr(value), like.device, like.dtype)
    if key not in made:
        made[key] = torch.tensor(value, device=like.device, dtype=like.dtype)
    return made[key]
