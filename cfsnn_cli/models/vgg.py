"""VGG families for event frames (48, 64 or 128 pixels)."""

from torch import nn

from cfsnn_cli.errors import require
from cfsnn_cli.models.blocks import (
    NeuronFactory,
    SequenceDropout,
    SpikingClassifier,
    TimeFolded,
    conv_bn,
    flatten_to_linear,
)
from cfsnn_cli.models.registry import MODELS
from cfsnn_cli.options import Probability

POOL = "pool"


def _features(
    in_channels: int, plan: list, neuron: NeuronFactory, pool: type[nn.Module]
) -> tuple[nn.Sequential, int, int]:
    layers: list[nn.Module] = []
    pools = 0
    for entry in plan:
        if entry == POOL:
            layers.append(TimeFolded(pool(2)))
            pools += 1
        else:
            layers += [conv_bn(in_channels, entry), neuron()]
            in_channels = entry
    return nn.Sequential(*layers), in_channels, pools


def _event_frames(input_shape, pools: int) -> tuple[int, int, int]:
    require(len(input_shape) == 3, "kind", f"VGG networks need frames [C, H, W] (got {input_shape})")
    channels, height, width = input_shape
    require(
        min(height, width) >= 2**pools, "kind", f"needs frames of at least {2**pools} pixels (got {height}×{width})"
    )
    return channels, height, width


VGG11_PLAN = [64, POOL, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL]
VGGSNN_PLAN = [64, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL]


@MODELS.register("vgg11")
def vgg11(
    input_shape: tuple[int, ...], num_classes: int, neuron: NeuronFactory, dropout: Probability = 0.0
) -> nn.Module:
    """VGG-11 with BN and max pooling, global average pooling and a linear readout.

    Args:
        input_shape: one step's input shape without the batch, [C, H, W] with H, W ≥ 32 (five poolings).
        num_classes: K, the width of the readout.
        neuron: a factory called once per neuron layer, each call a fresh layer with its own
            parameters (the engine's `neuron_factory(recipe)`).
        dropout: p in [0, 1) before the readout, one mask per sample for all T steps.

    Returns:
        A module mapping x_seq [T, B, *input_shape] to per-step logits [T, B, K].
    """
    channels, _, _ = _event_frames(input_shape, 5)
    features, width, _ = _features(channels, VGG11_PLAN, neuron, nn.MaxPool2d)
    head = nn.Sequential(*([SequenceDropout(dropout)] if dropout else []), TimeFolded(nn.Linear(width, num_classes)))
    return SpikingClassifier(features, head)


@MODELS.register("vggsnn")
def vggsnn(input_shape: tuple[int, ...], num_classes: int, neuron: NeuronFactory) -> nn.Module:
    """VGGSNN of Deng et al. (TET, ICLR 2022) for DVS frames: eight conv layers, average pooling,
    and a linear readout over the flattened 512 × (H/16) × (W/16) map.

    Args:
        input_shape: one step's input shape without the batch, [C, H, W] with H, W ≥ 16 (four poolings).
        num_classes: K, the width of the readout.
        neuron: a factory called once per neuron layer, each call a fresh layer with its own
            parameters (the engine's `neuron_factory(recipe)`).

    Returns:
        A module mapping x_seq [T, B, *input_shape] to per-step logits [T, B, K].
    """
    channels, height, width = _event_frames(input_shape, 4)
    features, depth, pools = _features(channels, VGGSNN_PLAN, neuron, nn.AvgPool2d)
    flat = depth * (height // 2**pools) * (width // 2**pools)
    return nn.Sequential(features, flatten_to_linear(flat, num_classes))
