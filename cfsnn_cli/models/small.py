"""Small networks for the embedded datasets: a spiking MLP and a compact conv net."""

import math

from torch import nn

from cfsnn_cli.errors import require
from cfsnn_cli.models.blocks import (
    NeuronFactory,
    RecurrentSpiking,
    SequenceDropout,
    TimeFolded,
    conv_bn,
    flatten_to_linear,
)
from cfsnn_cli.models.registry import MODELS
from cfsnn_cli.options import PositiveInt, Probability, Widths


@MODELS.register("mlp")
def mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    neuron: NeuronFactory,
    hidden: Widths = [256],  # noqa: B006 (read, never mutated)
    batch_norm: bool = True,
    dropout: Probability = 0.0,
) -> nn.Module:
    """Flatten → (Linear → BN → SN → dropout) per hidden width → Linear readout (per-step logits).

    Args:
        input_shape: one step's input shape without the batch, e.g. [C, H, W] or [features].
        num_classes: K, the width of the readout.
        neuron: a factory called once per neuron layer, each call a fresh layer with its own
            parameters (the engine's `neuron_factory(recipe)`).
        hidden: the widths of the hidden layers, one Linear → BN → neuron stage each (at least one).
        batch_norm: BatchNorm1d after each hidden Linear (which then has no bias).
        dropout: p in [0, 1) after each hidden neuron layer, one mask per sample for all T steps;
            0 adds no dropout layer.

    Returns:
        A module mapping x_seq [T, B, *input_shape] to per-step logits [T, B, K].
    """
    return _dense_stack(input_shape, num_classes, hidden, batch_norm, dropout, lambda width: neuron())


@MODELS.register("rsnn")
def rsnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    neuron: NeuronFactory,
    hidden: Widths = [256],  # noqa: B006 (read, never mutated)
    batch_norm: bool = True,
    dropout: Probability = 0.0,
) -> nn.Module:
    """The `mlp` with a recurrent neuron layer per hidden width: each layer's input at step t also
    holds W·N_{t−1}, a learned D × D weight on its own previous spikes (`RecurrentSpiking`).

    Args:
        input_shape: one step's input shape without the batch, e.g. [features] or [C, H, W].
        num_classes: K, the width of the readout.
        neuron: a factory of fresh neuron layers, any kind.
        hidden: the widths of the recurrent layers, one Linear → BN → recurrent neuron stage each.
        batch_norm: BatchNorm1d after each feed-forward Linear (the recurrent input is not normed).
        dropout: p in [0, 1) after each recurrent layer, one mask per sample for all T steps (the
            recurrence reads the spikes before the dropout).

    Returns:
        A module mapping x_seq [T, B, *input_shape] to per-step logits [T, B, K].
    """
    return _dense_stack(
        input_shape, num_classes, hidden, batch_norm, dropout, lambda width: RecurrentSpiking(width, neuron())
    )


def _dense_stack(input_shape, num_classes, hidden, batch_norm, dropout, spiking_layer) -> nn.Sequential:
    """Flatten → (Linear → BN → spiking_layer(width) → dropout) per hidden width → Linear readout."""
    layers: list[nn.Module] = []
    width = math.prod(input_shape)
    for index, out in enumerate(hidden):
        linear = nn.Linear(width, out, bias=not batch_norm)
        first = [nn.Flatten(), linear] if index == 0 else [linear]
        layers.append(TimeFolded(*first, *([nn.BatchNorm1d(out)] if batch_norm else [])))
        layers.append(spiking_layer(out))
        if dropout:
            layers.append(SequenceDropout(dropout))
        width = out
    layers.append(TimeFolded(nn.Linear(width, num_classes)))
    return nn.Sequential(*layers)


@MODELS.register("convnet")
def convnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    neuron: NeuronFactory,
    channels: Widths = [32, 64],  # noqa: B006 (read, never mutated)
    hidden: PositiveInt = 128,
    dropout: Probability = 0.0,
) -> nn.Module:
    """(conv3×3 → BN → SN → avgpool 2) per width → Linear → SN → Linear readout.

    Args:
        input_shape: one step's input shape without the batch, [C, H, W].
        num_classes: K, the width of the readout.
        neuron: a factory called once per neuron layer, each call a fresh layer with its own
            parameters (the engine's `neuron_factory(recipe)`).
        channels: the output channels of the conv stages, one stage each; every stage halves H
            and W, so the input needs at least 2^len(channels) pixels per side.
        hidden: the width of the hidden Linear layer.
        dropout: p in [0, 1) before the readout, one mask per sample for all T steps.

    Returns:
        A module mapping x_seq [T, B, *input_shape] to per-step logits [T, B, K].
    """
    require(len(input_shape) == 3, "kind", f"convnet needs image input [C, H, W] (got {input_shape})")
    in_channels, height, width = input_shape
    require(
        min(height, width) >= 2 ** len(channels),
        "channels",
        f"{len(channels)} pooling stages need inputs of at least {2 ** len(channels)} pixels",
    )
    layers: list[nn.Module] = []
    for out in channels:
        layers += [conv_bn(in_channels, out), neuron(), TimeFolded(nn.AvgPool2d(2))]
        in_channels, height, width = out, height // 2, width // 2
    layers += [flatten_to_linear(in_channels * height * width, hidden), neuron()]
    layers += [SequenceDropout(dropout)] if dropout else []
    layers.append(TimeFolded(nn.Linear(hidden, num_classes)))
    return nn.Sequential(*layers)
