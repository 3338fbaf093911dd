"""Residual families: ResNet-19 and ResNet-20 for CIFAR, SEW ResNet-18/34 for ImageNet."""

from torch import nn

from cfsnn_cli.errors import require
from cfsnn_cli.models.blocks import NeuronFactory, SpikingClassifier, TimeFolded, conv_bn, residual_stages
from cfsnn_cli.models.registry import MODELS
from cfsnn_cli.options import PositiveInt


def _image_channels(input_shape) -> int:
    require(len(input_shape) == 3, "kind", f"residual networks need image input [C, H, W] (got {input_shape})")
    return input_shape[0]


@MODELS.register("resnet19")
def resnet19(input_shape: tuple[int, ...], num_classes: int, neuron: NeuronFactory) -> nn.Module:
    """ResNet-19 of Zheng et al. (tdBN, AAAI 2021): 128-wide stem, stages 128×3, 256×3, 512×2,
    then FC-256 and the readout. The stem conv is the encoder of the direct-coded image.

    Args:
        input_shape: one step's input shape without the batch, [C, H, W].
        num_classes: K, the width of the readout.
        neuron: a factory called once per neuron layer, each call a fresh layer with its own
            parameters (the engine's `neuron_factory(recipe)`).

    Returns:
        A module mapping x_seq [T, B, *input_shape] to per-step logits [T, B, K].
    """
    stem = nn.Sequential(conv_bn(_image_channels(input_shape), 128), neuron())
    stages = residual_stages(128, [128, 256, 512], [3, 3, 2], [1, 2, 2], neuron, "standard")
    head = nn.Sequential(TimeFolded(nn.Linear(512, 256)), neuron(), TimeFolded(nn.Linear(256, num_classes)))
    return SpikingClassifier(nn.Sequential(stem, stages), head)


@MODELS.register("resnet20")
def resnet20(
    input_shape: tuple[int, ...], num_classes: int, neuron: NeuronFactory, width: PositiveInt = 16
) -> nn.Module:
    """The CIFAR ResNet-20 of He et al.: a `width`-channel stem, three stages of three blocks
    (width, 2·width, 4·width), global pooling, one linear readout.

    Args:
        input_shape: one step's input shape without the batch, [C, H, W].
        num_classes: K, the width of the readout.
        neuron: a factory called once per neuron layer, each call a fresh layer with its own
            parameters (the engine's `neuron_factory(recipe)`).
        width: the channels of the stem and the first stage (16 in He et al.).

    Returns:
        A module mapping x_seq [T, B, *input_shape] to per-step logits [T, B, K].
    """
    stem = nn.Sequential(conv_bn(_image_channels(input_shape), width), neuron())
    stages = residual_stages(width, [width, 2 * width, 4 * width], [3, 3, 3], [1, 2, 2], neuron, "standard")
    return SpikingClassifier(nn.Sequential(stem, stages), TimeFolded(nn.Linear(4 * width, num_classes)))


def _sew_resnet(input_shape, num_classes, neuron, depths) -> nn.Module:
    stem = nn.Sequential(
        conv_bn(_image_channels(input_shape), 64, kernel_size=7, stride=2),
        neuron(),
        TimeFolded(nn.MaxPool2d(3, stride=2, padding=1)),
    )
    stages = residual_stages(64, [64, 128, 256, 512], depths, [1, 2, 2, 2], neuron, "sew")
    return SpikingClassifier(nn.Sequential(stem, stages), TimeFolded(nn.Linear(512, num_classes)))


@MODELS.register("sew_resnet18")
def sew_resnet18(input_shape: tuple[int, ...], num_classes: int, neuron: NeuronFactory) -> nn.Module:
    """SEW ResNet-18 (Fang et al., NeurIPS 2021) with ADD connections, for ImageNet-sized input.

    Args:
        input_shape: one step's input shape without the batch, [C, H, W].
        num_classes: K, the width of the readout.
        neuron: a factory called once per neuron layer, each call a fresh layer with its own
            parameters (the engine's `neuron_factory(recipe)`).

    Returns:
        A module mapping x_seq [T, B, *input_shape] to per-step logits [T, B, K].
    """
    return _sew_resnet(input_shape, num_classes, neuron, [2, 2, 2, 2])


@MODELS.register("sew_resnet34")
def sew_resnet34(input_shape: tuple[int, ...], num_classes: int, neuron: NeuronFactory) -> nn.Module:
    """SEW ResNet-34 with ADD connections, for ImageNet-sized input.

    Args:
        input_shape: one step's input shape without the batch, [C, H, W].
        num_classes: K, the width of the readout.
        neuron: a factory called once per neuron layer, each call a fresh layer with its own
            parameters (the engine's `neuron_factory(recipe)`).

    Returns:
        A module mapping x_seq [T, B, *input_shape] to per-step logits [T, B, K].
    """
    return _sew_resnet(input_shape, num_classes, neuron, [3, 4, 6, 3])
