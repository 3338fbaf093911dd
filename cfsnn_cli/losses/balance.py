"""The positive-negative balanced (PN) term on membrane potentials.

For each neuron layer l, P_l = mean(relu(H)) and M_l = mean(relu(−H)) over its neurons, time
steps and batch, and

    L_PN = (1/L) · Σ_l ((P_l − M_l) / (P_l + M_l + ε))²

which is 0 when the potentials are spread evenly around zero, approaches 1 as they all lean one
way, and does not change when H is scaled. With granularity "channel" each channel is balanced
on its own and a layer's term is the mean over its channels.
"""

from typing import Literal, get_args

import torch

from cfsnn_cli.errors import require
from cfsnn_cli.neurons.observe import LayerObservation

Granularity = Literal["layer", "channel"]


def check_granularity(granularity: str) -> None:
    """Refuse, as a CfsnnError naming `granularity`, anything but "layer" or "channel"."""
    choices = get_args(Granularity)
    require(
        granularity in choices, "granularity", f"must be one of {', '.join(map(repr, choices))} (got {granularity!r})"
    )


def layer_imbalance(seen: LayerObservation, granularity: Granularity, eps: float) -> torch.Tensor:
    """(P − M)/(P + M + ε) of one layer: a 0-d tensor for "layer", [C] for "channel".

    Args:
        seen: the layer's recorded sums Σrelu(H) and Σrelu(−H) per channel.
        granularity: "layer" or "channel".
        eps: ε, keeping a silent layer's ratio finite.
    """
    if granularity == "layer":
        total = seen.elements_per_channel * seen.positive.numel()
        positive, negative = seen.positive.sum() / total, seen.negative.sum() / total
    else:
        positive = seen.positive / seen.elements_per_channel
        negative = seen.negative / seen.elements_per_channel
    return (positive - negative) / (positive + negative + eps)


def balance_loss(layers: list[LayerObservation], granularity: Granularity = "layer", eps: float = 1e-8) -> torch.Tensor:
    """L_PN = (1/L)·Σ_l imbalance_l², a 0-d tensor in [0, 1] with gradients to every layer's input.

    Args:
        layers: the observations of the L neuron layers (`Observations.layers`).
        granularity: "layer", or "channel" (a layer's term is then the mean over its channels).
        eps: ε in (P − M)/(P + M + ε).

    Raises:
        CfsnnError: no layer was observed.
    """
    check_granularity(granularity)
    require(len(layers) > 0, "balance", "no neuron layer ran inside observe(), so there is nothing to balance")
    terms = [layer_imbalance(seen, granularity, eps).pow(2).mean() for seen in layers]
    return torch.stack(terms).mean()
