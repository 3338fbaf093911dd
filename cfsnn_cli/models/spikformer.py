"""Spikformer (Zhou et al., ICLR 2023; github.com/ZK-Zhou/spikformer): spiking patch splitting,
spiking self-attention without softmax, spiking MLP; blocks add spikes to the stream (x + f(x))."""

from typing import Annotated

import torch
from annotated_types import Gt
from torch import nn

from cfsnn_cli.models.blocks import NeuronFactory, conv_bn, linear_bn, token_neuron
from cfsnn_cli.models.registry import MODELS
from cfsnn_cli.models.transformer import (
    PatchSize,
    PatchSplitting,
    SpikeAttention,
    SpikingTransformer,
    TokenEmbedding,
    check_sizes,
    is_image,
    readout,
    stem_layers,
)
from cfsnn_cli.options import PositiveInt


class SpikingSelfAttention(nn.Module):
    """SSA: Q, K, V = SN(BN(Linear(x))), then SN(scale · (Q Kᵀ) V) (no softmax: Q, K and V are
    spikes, so every attention score is an integer), then SN(BN(Linear(·))).

    Args:
        dim: D, the token width.
        heads: the number of heads, dividing D.
        neuron: the factory of fresh neuron layers.
        qkv_bias: give the Q, K, V Linear layers a bias (Spikformer's CIFAR code has one, its
            ImageNet and DVS code none).
        scale: the factor on the integer scores (0.125).
    """

    def __init__(self, dim: int, heads: int, neuron: NeuronFactory, qkv_bias: bool, scale: float):
        super().__init__()
        self.q, self.k, self.v = (linear_bn(dim, dim, bias=qkv_bias) for _ in range(3))
        self.q_neuron, self.k_neuron, self.v_neuron = (token_neuron(neuron) for _ in range(3))
        self.attention = SpikeAttention(heads, scale)
        self.attention_neuron = token_neuron(neuron)
        self.proj = linear_bn(dim, dim, bias=True)
        self.proj_neuron = token_neuron(neuron)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        q = self.q_neuron(self.q(x_seq))
        k = self.k_neuron(self.k(x_seq))
        v = self.v_neuron(self.v(x_seq))
        return self.proj_neuron(self.proj(self.attention_neuron(self.attention(q, k, v))))


class SpikingMLP(nn.Sequential):
    """SN(BN(Linear(·))) twice: D → hidden → D.

    Args:
        dim: D.
        hidden: the hidden width (D · mlp_ratio).
        neuron: the factory of fresh neuron layers.
    """

    def __init__(self, dim: int, hidden: int, neuron: NeuronFactory):
        super().__init__(
            linear_bn(dim, hidden, bias=True),
            token_neuron(neuron),
            linear_bn(hidden, dim, bias=True),
            token_neuron(neuron),
        )


class SpikformerBlock(nn.Module):
    """x + SSA(x), then + MLP(·): the stream is a sum of spike tensors, integers throughout.

    Args:
        dim: D.
        heads: SSA's heads.
        hidden: the MLP's hidden width.
        neuron: the factory of fresh neuron layers.
        qkv_bias: see `SpikingSelfAttention`.
        scale: see `SpikingSelfAttention`.
    """

    def __init__(self, dim: int, heads: int, hidden: int, neuron: NeuronFactory, qkv_bias: bool, scale: float):
        super().__init__()
        self.attention = SpikingSelfAttention(dim, heads, neuron, qkv_bias, scale)
        self.mlp = SpikingMLP(dim, hidden, neuron)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        x_seq = x_seq + self.attention(x_seq)
        return x_seq + self.mlp(x_seq)


def _stem(input_shape, dim: int, patch_size: int, neuron: NeuronFactory) -> nn.Module:
    if not is_image(input_shape):
        tokens, features = input_shape
        return nn.Sequential(TokenEmbedding(tokens, features, dim), token_neuron(neuron))
    body = []
    for conv, pool in stem_layers(input_shape[0], dim, patch_size):
        body += [conv, neuron(), *([pool] if pool else [])]
    return PatchSplitting(nn.Sequential(*body), nn.Sequential(conv_bn(dim, dim), neuron()))


@MODELS.register("spikformer")
def spikformer(
    input_shape: tuple[int, ...],
    num_classes: int,
    neuron: NeuronFactory,
    depth: PositiveInt = 4,
    dim: PositiveInt = 384,
    heads: PositiveInt = 12,
    mlp_ratio: Annotated[float, Gt(0)] = 4.0,
    patch_size: PatchSize = 4,
    qkv_bias: bool = False,
    scale: Annotated[float, Gt(0)] = 0.125,
) -> nn.Module:
    """Spikformer-`depth`-`dim` (Zhou et al., ICLR 2023): spiking patch splitting, `depth` blocks of
    spiking self-attention and spiking MLP, the mean over tokens, a linear readout.

    Published sizes: 4-384 on CIFAR (32×32, patch_size 4: 64 tokens, 12 heads, 9.32 M parameters),
    8-384 and 8-512 on ImageNet (224×224, patch_size 16: 196 tokens; 16.81 M and 29.68 M), 2-256
    on event frames (128×128, patch_size 16, 16 heads).

    Args:
        input_shape: one step's input without the batch: an image [C, H, W] (split into patches by
            the conv stem) or tokens [N, F] (embedded by Linear → BN plus a learned position
            embedding).
        num_classes: K, the width of the readout.
        neuron: a factory called once per neuron layer, each call a fresh layer with its own
            parameters (the engine's `neuron_factory(recipe)`).
        depth: the number of blocks.
        dim: D, the token width; a multiple of 8 (the stem's widths are D/8, D/4, D/2, D).
        heads: the attention heads, dividing D.
        mlp_ratio: the MLP's hidden width over D.
        patch_size: the stem's downsampling (1, 2, 4, 8 or 16): the last log2(patch_size) of its
            four convs are followed by a stride-2 max pool; unused for tokens.
        qkv_bias: give the Q, K, V Linear layers a bias.
        scale: the factor on the integer attention scores before the attention's neuron.

    Returns:
        A module mapping x_seq [T, B, *input_shape] to per-step logits [T, B, K].
    """
    hidden = check_sizes(input_shape, dim, heads, mlp_ratio)
    blocks = nn.Sequential(*(SpikformerBlock(dim, heads, hidden, neuron, qkv_bias, scale) for _ in range(depth)))
    return SpikingTransformer(_stem(input_shape, dim, patch_size, neuron), blocks, readout(num_classes, dim))
