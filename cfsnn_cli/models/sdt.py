"""The Spike-driven Transformer (Yao et al., NeurIPS 2023; github.com/BICLab/Spike-Driven-Transformer):
membrane shortcuts (the stream carries BatchNorm outputs, and every branch starts with a neuron)
and spike-driven self-attention, Q ⊙ SN(Σ_tokens K ⊙ V), linear in the number of tokens."""

from typing import Annotated

import torch
from annotated_types import Gt
from torch import nn

from cfsnn_cli.models.blocks import NeuronFactory, conv_bn, linear_bn, token_neuron
from cfsnn_cli.models.registry import MODELS
from cfsnn_cli.models.transformer import (
    HadamardTokenSum,
    PatchSize,
    PatchSplitting,
    SpikeMask,
    SpikingTransformer,
    TokenEmbedding,
    check_sizes,
    is_image,
    readout,
    stem_layers,
)
from cfsnn_cli.options import PositiveInt


class SpikeDrivenSelfAttention(nn.Module):
    """SDSA with a membrane shortcut: x + BN(Linear(Q ⊙ SN(Σ_N K ⊙ V))), where
    Q, K, V = SN(BN(Linear(SN(x)))).

    Every product is of two spike tensors: K ⊙ V and the mask by Q are sign flips and selections
    (D = 1) or small integer products, and the column sum over the N tokens is additions — no
    multiply-accumulate, and O(N·D) rather than O(N²·D).

    Args:
        dim: D, the token width.
        neuron: the factory of fresh neuron layers.
    """

    def __init__(self, dim: int, neuron: NeuronFactory):
        super().__init__()
        self.shortcut_neuron = token_neuron(neuron)
        self.q, self.k, self.v = (linear_bn(dim, dim) for _ in range(3))
        self.q_neuron, self.k_neuron, self.v_neuron = (token_neuron(neuron) for _ in range(3))
        self.column_sum = HadamardTokenSum()
        self.column_neuron = token_neuron(neuron)
        self.mask = SpikeMask()
        self.proj = linear_bn(dim, dim, bias=True)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        spikes = self.shortcut_neuron(x_seq)
        q = self.q_neuron(self.q(spikes))
        k = self.k_neuron(self.k(spikes))
        v = self.v_neuron(self.v(spikes))
        return x_seq + self.proj(self.mask(q, self.column_neuron(self.column_sum(k, v))))


class MembraneMLP(nn.Module):
    """x + BN(Linear(SN(BN(Linear(SN(x)))))), D → hidden → D; with hidden = D the hidden layer
    gets a shortcut of its own, as in the published code.

    Args:
        dim: D.
        hidden: the hidden width (D · mlp_ratio).
        neuron: the factory of fresh neuron layers.
    """

    def __init__(self, dim: int, hidden: int, neuron: NeuronFactory):
        super().__init__()
        self.first_neuron, self.first = token_neuron(neuron), linear_bn(dim, hidden, bias=True)
        self.second_neuron, self.second = token_neuron(neuron), linear_bn(hidden, dim, bias=True)
        self.inner_shortcut = hidden == dim

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        shortcut = x_seq
        h = self.first(self.first_neuron(x_seq))
        if self.inner_shortcut:
            h = shortcut = h + x_seq
        return shortcut + self.second(self.second_neuron(h))


def _stem(input_shape, dim: int, patch_size: int, neuron: NeuronFactory) -> nn.Module:
    if not is_image(input_shape):
        tokens, features = input_shape
        return TokenEmbedding(tokens, features, dim)
    layers = stem_layers(input_shape[0], dim, patch_size)
    body = []
    for index, (conv, pool) in enumerate(layers):
        last = index == len(layers) - 1  # the last conv's BN output is the stream itself: no neuron
        body += [conv, *([] if last else [neuron()]), *([pool] if pool else [])]
    return PatchSplitting(nn.Sequential(*body), nn.Sequential(neuron(), conv_bn(dim, dim)))


@MODELS.register("sdt")
def sdt(
    input_shape: tuple[int, ...],
    num_classes: int,
    neuron: NeuronFactory,
    depth: PositiveInt = 2,
    dim: PositiveInt = 512,
    mlp_ratio: Annotated[float, Gt(0)] = 4.0,
    patch_size: PatchSize = 4,
) -> nn.Module:
    """Spike-driven Transformer-`depth`-`dim` (Yao et al., NeurIPS 2023): membrane-shortcut patch
    splitting, `depth` blocks of spike-driven self-attention and MLP, a neuron, the mean over
    tokens, a linear readout.

    Published sizes: 2-512 on CIFAR-10/100 (32×32, patch_size 4, 10.28 M parameters), 8-384 and
    8-512 on ImageNet (224×224, patch_size 16), 2-256 on event frames (128×128, patch_size 16).
    SDSA is per feature (the column sum of K ⊙ V over tokens), so the published heads change
    nothing and are not an option.

    The sizes mean what they mean for `spikformer`.

    Args:
        input_shape: an image [C, H, W] or tokens [N, F] (Linear → BN plus a learned position
            embedding, fed to the blocks as membrane-level values).
        num_classes: K, the width of the readout.
        neuron: the factory of fresh neuron layers (the engine's `neuron_factory(recipe)`).
        depth: the number of blocks.
        dim: D, a multiple of 8.
        mlp_ratio: the MLP's hidden width over D.
        patch_size: the stem's downsampling, one max pool per factor 2 after its last convs.

    Returns:
        A module mapping x_seq [T, B, *input_shape] to per-step logits [T, B, K].
    """
    hidden = check_sizes(input_shape, dim, 1, mlp_ratio)
    blocks = nn.Sequential(
        *(nn.Sequential(SpikeDrivenSelfAttention(dim, neuron), MembraneMLP(dim, hidden, neuron)) for _ in range(depth))
    )
    stem = _stem(input_shape, dim, patch_size, neuron)
    return SpikingTransformer(stem, blocks, readout(num_classes, dim, token_neuron(neuron)))
