"""The few functions a surrogate's F' may call besides arithmetic, so that one definition runs on
both kernels.

Written as `derivative(z)` with `+ − × /`, `abs` and these, F' runs as it reads on a torch tensor
(the `torch` backend and the reference) and compiles, elementwise on one float, into the fused CPU
kernel, which gives each of these functions its own implementation there
(`cfsnn_cli/neurons/numba_elementwise.py`). One rule comes with it: a number in the formula goes
through `constant(value, z)`. On a tensor that is the plain float; in the compiled kernel it is the
value in z's own precision, where a bare `0.5` would turn every float32 step into float64.
"""

import torch


def constant(value: float, like: torch.Tensor) -> float:
    """`value`, in the precision of `like` once compiled; a Python float on a tensor (whose
    arithmetic keeps the tensor's dtype)."""
    return value


def exp_of_nonpositive(x: torch.Tensor) -> torch.Tensor:
    """e^x for x <= 0 (the compiled kernel's version is exact to an ulp only there)."""
    return torch.exp(x)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """1/(1 + e^−x)."""
    return torch.sigmoid(x)


def step(x: torch.Tensor) -> torch.Tensor:
    """1 where x > 0, else 0, in x's dtype."""
    return (x > 0).to(x.dtype)


def positive_part(x: torch.Tensor) -> torch.Tensor:
    """max(x, 0)."""
    return x.clamp_min(0)
