"""Fake-quantised synapses: a conv or linear layer whose input, weights, bias and output are the
integers an integer-only device computes, carried as floats so that autograd sees them.

With s_a the step of the input (1 for spikes, 1/k² after a k×k average pool of spikes, the input
step for the first layer) and s_w the weight step of an output channel, the layer computes

    a_int = round(a / s_a)            (clipped to ±(2^(b_in − 1) − 1) for the network's input)
    W_int = clip(round(W / s_w), ±(2^(b − 1) − 1)),  b_int = round(bias / u),  u = s_w·s_a
    acc   = W_int ⊛ a_int + b_int     (an integer accumulator)
    out   = acc·u

Every rounding passes its gradient straight through (`straight_through.py`), so W learns as in the float layer:
d out / dW = a_int·u / s_w = a. The steps are buffers set once by calibration (`steps.py`), then
fixed: weights that grow past the range are clipped.
"""

import torch
from torch import nn
from torch.nn import functional

from cfsnn_cli.straight_through import round_ste


def largest_integer(bits: int) -> int:
    """The largest magnitude a signed symmetric `bits`-bit integer holds: 2^(bits − 1) − 1."""
    return (1 << (bits - 1)) - 1


class QuantizedSynapse:
    """What the fake-quantised conv and linear layers share; `integer_op` is the layer's own product."""

    weight_bits: int
    input_limit: int | None  # ±limit clips the input: set on the layers that read the network's input
    input_step: torch.Tensor  # s_a, 0-d float64
    weight_step: torch.Tensor  # s_w per output channel, float64

    def init_quantization(self, weight_bits: int) -> None:
        self.weight_bits = weight_bits
        self.input_limit = None
        self.register_buffer("input_step", torch.ones((), dtype=torch.float64))
        self.register_buffer("weight_step", torch.ones(self.weight.shape[0], dtype=torch.float64))

    def unit(self) -> torch.Tensor:
        """u = s_w·s_a per output channel: the real value of one unit of the accumulator."""
        return self.weight_step * self.input_step

    def integer_weight(self) -> torch.Tensor:
        step = self.weight_step.to(self.weight.dtype).reshape(-1, *([1] * (self.weight.dim() - 1)))
        limit = largest_integer(self.weight_bits)
        integers = round_ste(self.weight / step)
        # the gradient stops at the weights clipped, those whose rounding falls outside the range;
        # clamping W/s itself would also stop it at each channel's largest weight, W/s = limit ± round-off
        return torch.where(integers.abs() <= limit, integers, integers.detach().clamp(-limit, limit))

    def integer_bias(self) -> torch.Tensor | None:
        if self.bias is None:
            return None
        return round_ste(self.bias / self.unit().to(self.bias.dtype))

    def integer_input(self, a: torch.Tensor) -> torch.Tensor:
        a_int = round_ste(a / self.input_step.to(a.dtype))
        if self.input_limit is not None:
            a_int = torch.clamp(a_int, -self.input_limit, self.input_limit)
        return a_int

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        acc = self.integer_op(self.integer_input(a), self.integer_weight())
        bias = self.integer_bias()
        channels = self.channel_shape(acc)
        if bias is not None:
            acc = acc + bias.reshape(channels)
        # the product of integers can come back off by a rounding (a conv algorithm may transform
        # its operands); the accumulator is an integer, so it is put back on one
        return round_ste(acc) * self.unit().to(acc.dtype).reshape(channels)


class QuantizedConv2d(QuantizedSynapse, nn.Conv2d):
    """An nn.Conv2d computing in integers (see the module docstring); made by `quantized_copy`."""

    def integer_op(self, a_int: torch.Tensor, w_int: torch.Tensor) -> torch.Tensor:
        return functional.conv2d(a_int, w_int, None, self.stride, self.padding, self.dilation, self.groups)

    def channel_shape(self, acc: torch.Tensor) -> list[int]:
        return [1, -1, *([1] * (acc.dim() - 2))]  # channels on dim 1


class QuantizedLinear(QuantizedSynapse, nn.Linear):
    """An nn.Linear computing in integers (see the module docstring); made by `quantized_copy`."""

    def integer_op(self, a_int: torch.Tensor, w_int: torch.Tensor) -> torch.Tensor:
        return functional.linear(a_int, w_int)

    def channel_shape(self, acc: torch.Tensor) -> list[int]:
        return [-1]  # features last, whatever the dimensions before them


def quantized_copy(layer: nn.Conv2d | nn.Linear, weight_bits: int) -> QuantizedSynapse:
    """The fake-quantised form of `layer`, holding the same parameters (the state dict keeps their names)."""
    with_bias = layer.bias is not None
    if isinstance(layer, nn.Conv2d):
        quantized = QuantizedConv2d(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,
            layer.stride,
            layer.padding,
            layer.dilation,
            layer.groups,
            bias=with_bias,
            padding_mode=layer.padding_mode,
            device="meta",  # its own fresh parameters are replaced at once
        )
    else:
        quantized = QuantizedLinear(layer.in_features, layer.out_features, bias=with_bias, device="meta")
    quantized.weight = layer.weight
    quantized.bias = layer.bias
    quantized.init_quantization(weight_bits)
    return quantized.to(layer.weight.device)
