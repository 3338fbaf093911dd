"""Building blocks shared by the model families. Tensors are [T, B, ...] throughout."""

from collections.abc import Callable

import torch
from torch import nn

NeuronFactory = Callable[[], nn.Module]  # each call returns a fresh neuron layer


class TimeFolded(nn.Module):
    """Apply a stateless layer (conv, BN, pooling, linear) to every step at once by folding T into
    the batch; BatchNorm then normalises over time and batch together (tdBN-style statistics).

    Args:
        *layers: the layers, applied in order to [T·B, ...]; several are wrapped in nn.Sequential.
    """

    def __init__(self, *layers: nn.Module):
        super().__init__()
        self.layer = layers[0] if len(layers) == 1 else nn.Sequential(*layers)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        steps, batch = x_seq.shape[:2]
        y = self.layer(x_seq.flatten(0, 1))
        return y.unflatten(0, (steps, batch))


class SequenceDropout(nn.Module):
    """Dropout with one mask per sample shared by all T steps (SpikingJelly's MultiStepDropout):
    a unit dropped at one step is dropped at every step, rather than flickering like input noise.

    Args:
        p: the probability in [0, 1) that a unit is dropped; kept units are scaled by 1/(1 − p).
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x_seq
        keep = torch.empty_like(x_seq[0]).bernoulli_(1 - self.p) / (1 - self.p)
        return x_seq * keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class RecurrentSpiking(nn.Module):
    """A neuron layer over features [T, B, D] whose input at step t also holds W·N_{t−1}: a learned
    recurrent weight on the layer's own previous spikes (snnTorch's RLeaky, Norse's LIFRecurrent).

    The neuron runs step by step (`neurons/stepwise.py`); `recurrent` is called once per step, so
    profilers and hooks see it as one more synapse layer fed by spikes.

    Args:
        width: D, the layer's number of neurons.
        neuron: a fresh neuron layer of any kind.
    """

    def __init__(self, width: int, neuron: nn.Module):
        super().__init__()
        self.neuron = neuron
        # torch's Linear initialisation, U(±1/√D): the recurrent input starts as large as a
        # batch-normed feed-forward input spread over D neurons, neither dominating.
        self.recurrent = nn.Linear(width, width, bias=False)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.neuron(x_seq, feedback=self.recurrent)


def conv_bn(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> TimeFolded:
    """A bias-free square conv with "same" padding (kernel_size // 2), then BatchNorm2d, over every step."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False)
    return TimeFolded(conv, nn.BatchNorm2d(out_channels))


def flatten_to_linear(in_features: int, out_features: int) -> TimeFolded:
    """Flatten each step's [C, H, W] (or any shape) and apply one Linear layer."""
    return TimeFolded(nn.Flatten(), nn.Linear(in_features, out_features))


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with a shortcut, in one of two wirings:

    - "standard" (spiking ResNet / tdBN): SN(BN(conv(SN(BN(conv(x))))) + shortcut(x))
    - "sew" (SEW ResNet, ADD): SN(BN(conv(SN(BN(conv(x)))))) + shortcut(x), spikes added after firing

    The shortcut is the identity, or a 1×1 conv-BN (followed by a neuron in "sew") when the
    stride or the width changes.

    Args:
        in_channels: channels of the input.
        out_channels: channels of both convs and of the output.
        stride: the first conv's stride (2 halves H and W).
        neuron: a factory of fresh neuron layers.
        wiring: "standard" or "sew".
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, neuron: NeuronFactory, wiring: str):
        super().__init__()
        self.wiring = wiring
        self.first = conv_bn(in_channels, out_channels, stride=stride)
        self.first_neuron = neuron()
        self.second = conv_bn(out_channels, out_channels)
        self.out_neuron = neuron()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            projection = conv_bn(in_channels, out_channels, kernel_size=1, stride=stride)
            self.shortcut = nn.Sequential(projection, neuron()) if wiring == "sew" else projection

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        y = self.second(self.first_neuron(self.first(x_seq)))
        if self.wiring == "sew":
            return self.out_neuron(y) + self.shortcut(x_seq)
        return self.out_neuron(y + self.shortcut(x_seq))


def residual_stages(
    in_channels: int, widths: list[int], depths: list[int], strides: list[int], neuron: NeuronFactory, wiring: str
) -> nn.Sequential:
    """Stages of BasicBlocks: stage i has depths[i] blocks of widths[i] channels, the first with strides[i]."""
    blocks = []
    for width, depth, stride in zip(widths, depths, strides, strict=True):
        for index in range(depth):
            blocks.append(BasicBlock(in_channels, width, stride if index == 0 else 1, neuron, wiring))
            in_channels = width
    return nn.Sequential(*blocks)


class SpikingClassifier(nn.Module):
    """features → global average pool → head; returns per-step logits [T, B, K].

    Args:
        features: maps x_seq [T, B, C, H, W] to feature maps [T, B, C', H', W'].
        head: maps the pooled features [T, B, C'] to logits [T, B, K].
    """

    def __init__(self, features: nn.Module, head: nn.Module):
        super().__init__()
        self.features = features
        self.pool = TimeFolded(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = head

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x_seq)))


# -- tokens [T, B, N, D] ---------------------------------------------------------------------------


class _FeaturesLast:
    """A batch norm's forward on tokens [T·B, N, D]: D moved to dim 1, where torch's norms read it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            return super().forward(x.transpose(1, 2)).transpose(1, 2)
        return super().forward(x)


class TokenBatchNorm(_FeaturesLast, nn.BatchNorm1d):
    """BatchNorm over the feature dimension D of tokens [T·B, N, D] (or of features [T·B, D]): each
    feature normalised over time, batch and tokens together, as Spikformer's BatchNorm1d on the
    transposed tokens. It is a BatchNorm1d, so `models/folding.py` folds it into the Linear before
    it unchanged (both act on the last dimension). It takes BatchNorm1d's arguments, D first.
    """


class SyncTokenBatchNorm(_FeaturesLast, nn.SyncBatchNorm):
    """A TokenBatchNorm whose statistics are gathered over every process (`engine/distributed.py`
    makes one of each TokenBatchNorm; torch's `convert_sync_batchnorm` would drop the transpose)."""

    @classmethod
    def from_token_norm(cls, norm: TokenBatchNorm) -> "SyncTokenBatchNorm":
        """The same parameters and buffers (not copies), so the state dict is unchanged."""
        synced = cls(norm.num_features, norm.eps, norm.momentum, norm.affine, norm.track_running_stats)
        synced.weight, synced.bias = norm.weight, norm.bias
        synced.running_mean, synced.running_var = norm.running_mean, norm.running_var
        synced.num_batches_tracked = norm.num_batches_tracked
        synced.train(norm.training)
        return synced


def linear_bn(in_features: int, out_features: int, bias: bool = False) -> TimeFolded:
    """Linear → TokenBatchNorm over every step of tokens [T, B, N, D] (a 1×1 conv over tokens).

    Args:
        in_features: D of the input tokens.
        out_features: D of the output tokens.
        bias: give the Linear a bias (redundant before BatchNorm, kept where a published model has
            one so that its parameter count is matched).
    """
    return TimeFolded(nn.Linear(in_features, out_features, bias=bias), TokenBatchNorm(out_features))


def token_neuron(neuron: NeuronFactory) -> nn.Module:
    """A fresh neuron layer for tokens [T, B, N, D] (or [T, B, 1, D]): its membrane statistics, and so
    the PN term at channel granularity, are kept per feature D (`channel_dim = -1`)."""
    layer = neuron()
    layer.channel_dim = -1
    return layer


class ImageToTokens(nn.Module):
    """Feature maps [T, B, D, H, W] → tokens [T, B, H·W, D], patches in row-major order."""

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return x_seq.flatten(3).transpose(2, 3)


class TokenMean(nn.Module):
    """Tokens [T, B, N, D] → their mean over the N tokens, [T, B, D] (the transformers' pooling)."""

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return x_seq.mean(2)
