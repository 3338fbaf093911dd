"""How a [T, B, C, ...] sequence lies in memory as T blocks of M neurons, for the fused kernels
(numba on the CPU, Triton on the GPU): each reads and writes one step as one contiguous row."""

import math

import torch


class TimeMajorLayout:
    """A [T, B, C, ...] tensor as T rows of M neurons: in the usual order (channel =
    (i // inner) % C) or channels last (channel = i % C), so that a channels-last network (or a
    token layout moved to look like one) needs no copy. Tensors in any other layout are made
    contiguous first."""

    def __init__(self, x_seq: torch.Tensor):
        self.channels = x_seq.shape[2] if x_seq.dim() > 2 else 1
        channels_last = [0, 1, *range(3, x_seq.dim()), 2]
        if x_seq.dim() > 3 and not x_seq.is_contiguous() and x_seq.permute(channels_last).is_contiguous():
            self.order, self.inner = channels_last, 1
        else:
            self.order, self.inner = list(range(x_seq.dim())), math.prod(x_seq.shape[3:])

    def rows(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` (detached) as a [T, M] tensor in this layout: a view when it already lies so,
        else a copy."""
        in_order = tensor.detach().permute(self.order).contiguous()
        return in_order.view(tensor.shape[0], -1)

    def empty_like(self, tensor: torch.Tensor) -> torch.Tensor:
        """A new tensor shaped like `tensor`, lying in this layout (so `rows` of it is a view). Not
        itself a view, so that callers may modify it in place."""
        in_order = [tensor.shape[d] for d in self.order]
        strides_in_order = [math.prod(in_order[i + 1 :]) for i in range(len(in_order))]
        strides = [0] * tensor.dim()
        for position, dim in enumerate(self.order):
            strides[dim] = strides_in_order[position]
        return torch.empty_strided(tensor.shape, strides, dtype=tensor.dtype, device=tensor.device)
