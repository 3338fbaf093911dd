"""What Spikformer and the Spike-driven Transformer share: the spiking patch splitting stem, the
embedding of tokenised inputs, the products of two spike tensors, and the classifier around the
blocks. Tokens are [T, B, N, D] throughout (time first, then batch, N tokens of D features)."""

import math
from typing import Literal

import torch
from torch import nn

from cfsnn_cli.errors import require
from cfsnn_cli.models.blocks import ImageToTokens, TimeFolded, TokenMean, conv_bn, linear_bn

PatchSize = Literal[1, 2, 4, 8, 16]
"""A stem's total downsampling: each factor 2 is one 3×3/stride-2 max pool after one of its convs."""

STEM_CONVS = 4  # the spiking patch splitting's conv layers, D/8, D/4, D/2 and D channels wide


def exact(spikes: torch.Tensor) -> torch.Tensor:
    """`spikes` in at least float32, where sums of integers stay exact up to 2^24 (bfloat16 spikes
    under autocast would round any sum above 256)."""
    return spikes.to(torch.promote_types(spikes.dtype, torch.float32))


class SpikeAttention(nn.Module):
    """Spikformer's attention without softmax on spike tensors: scale · (Q Kᵀ) V per head.

    Q, K and V are [T, B, N, D] spikes; every product is one of two spike counts, so the result is
    an integer times `scale`. Without softmax the product is associative, and the cheaper order is
    taken: Q (Kᵀ V) when N > D/heads (linear in N), else (Q Kᵀ) V; both are exact in float32 (the
    products run outside autocast).

    Args:
        heads: the number of heads; D is split into heads of D/heads features.
        scale: the factor on the integer product (0.125 in Spikformer).
    """

    def __init__(self, heads: int, scale: float):
        super().__init__()
        self.heads, self.scale = heads, scale

    def heads_of(self, tokens: torch.Tensor) -> torch.Tensor:
        """[T, B, N, D] → [T, B, heads, N, D/heads], in at least float32."""
        return exact(tokens).unflatten(-1, (self.heads, -1)).transpose(2, 3)

    @staticmethod
    def keys_first(q: torch.Tensor) -> bool:
        """Whether Q (Kᵀ V) is the cheaper order for per-head Q [..., N, D/heads]: when N > D/heads."""
        tokens, width = q.shape[-2:]
        return tokens > width

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with torch.autocast(q.device.type, enabled=False):
            q, k, v = self.heads_of(q), self.heads_of(k), self.heads_of(v)
            product = q @ (k.transpose(-2, -1) @ v) if self.keys_first(q) else (q @ k.transpose(-2, -1)) @ v
        return (product * self.scale).transpose(2, 3).flatten(-2)

    def extra_repr(self) -> str:
        return f"heads={self.heads}, scale={self.scale:g}"


class HadamardTokenSum(nn.Module):
    """The Spike-driven Transformer's column sum: Σ over the N tokens of K ⊙ V, from spike tensors
    [T, B, N, D] to an integer-valued [T, B, 1, D] (exact in float32)."""

    def forward(self, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (exact(k) * exact(v)).sum(2, keepdim=True)


class SpikeMask(nn.Module):
    """Q ⊙ S: spike tokens [T, B, N, D] masked (and, for signed spikes, sign-flipped) by a spike
    vector per feature [T, B, 1, D]."""

    def forward(self, q: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return q * mask


class PatchSplitting(nn.Module):
    """Spiking patch splitting: a conv body on frames [T, B, C, H, W], a relative position embedding
    added as a residual (x + rpe(x)), then the map as tokens [T, B, H'·W', D].

    Args:
        body: the conv layers (with their neurons and pools) from the input to D channels.
        rpe: the relative position embedding branch, D channels in and out.
    """

    def __init__(self, body: nn.Module, rpe: nn.Module):
        super().__init__()
        self.body, self.rpe, self.tokens = body, rpe, ImageToTokens()

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        x = self.body(x_seq)
        return self.tokens(x + self.rpe(x))


def stem_layers(in_channels: int, dim: int, patch_size: int) -> list[tuple[nn.Module, nn.Module | None]]:
    """The patch splitting's four conv-BN layers (3×3, D/8 → D/4 → D/2 → D channels), each with the
    max pool (3×3, stride 2) that follows it or None: the last log2(patch_size) convs are pooled."""
    pools = int(math.log2(patch_size))
    widths = [dim // 8, dim // 4, dim // 2, dim]
    layers = []
    for index, width in enumerate(widths):
        pooled = index >= STEM_CONVS - pools
        pool = TimeFolded(nn.MaxPool2d(3, stride=2, padding=1)) if pooled else None
        layers.append((conv_bn(in_channels, width), pool))
        in_channels = width
    return layers


class TokenEmbedding(nn.Module):
    """Tokenised input [T, B, N, F] → [T, B, N, D]: Linear → BatchNorm per token, plus a learned
    position embedding (exempt from weight decay through the model's `no_weight_decay()`).

    Args:
        tokens: N.
        features: F.
        dim: D.
    """

    def __init__(self, tokens: int, features: int, dim: int):
        super().__init__()
        self.embed = linear_bn(features, dim)
        self.pos_embed = nn.Parameter(nn.init.trunc_normal_(torch.empty(tokens, dim), std=0.02))

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.embed(x_seq) + self.pos_embed


def check_sizes(input_shape, dim: int, heads: int, mlp_ratio: float) -> int:
    """Refuse sizes the transformers cannot take, naming the option; returns the MLP's hidden width."""
    require(
        len(input_shape) in (2, 3),
        "kind",
        f"spiking transformers take images [C, H, W] or tokens [N, F] (got {list(input_shape)})",
    )
    require(dim % 8 == 0, "dim", f"must be a multiple of 8, the patch splitting's first width being D/8 (got {dim})")
    require(dim % heads == 0, "heads", f"must divide dim = {dim} (got {heads})")
    hidden = int(dim * mlp_ratio)
    require(hidden >= 1, "mlp_ratio", f"gives an MLP of {hidden} features for dim = {dim}")
    return hidden


def is_image(input_shape) -> bool:
    """[C, H, W] (else tokens [N, F])."""
    return len(input_shape) == 3


class SpikingTransformer(nn.Module):
    """stem → blocks → head: x_seq [T, B, ...] → tokens [T, B, N, D] → per-step logits [T, B, K].

    Args:
        stem: the patch splitting (image input) or the token embedding (tokenised input).
        blocks: the transformer blocks, tokens in and out.
        head: tokens → logits (the mean over tokens and a Linear readout).
    """

    def __init__(self, stem: nn.Module, blocks: nn.Module, head: nn.Module):
        super().__init__()
        self.stem, self.blocks, self.head = stem, blocks, head

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x_seq)))

    def no_weight_decay(self) -> set[str]:
        """The position embeddings, by name, which the optimiser does not decay (timm's convention;
        biases and norms are exempt by the engine's own rule)."""
        return {name for name, _ in self.named_parameters() if name.rpartition(".")[2] == "pos_embed"}


def readout(num_classes: int, dim: int, *before: nn.Module) -> nn.Sequential:
    """`before` (e.g. a neuron), the mean over tokens, and a Linear readout per step."""
    return nn.Sequential(*before, TokenMean(), TimeFolded(nn.Linear(dim, num_classes)))
