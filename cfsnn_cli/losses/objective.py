"""The training objective: L = L_task + λ·L_PN."""

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cfsnn_cli.errors import require
from cfsnn_cli.losses.balance import Granularity, balance_loss, check_granularity
from cfsnn_cli.losses.registry import TASK_LOSSES
from cfsnn_cli.neurons.observe import Observations


@dataclass
class LossParts:
    """One evaluation of the objective: `total` is what to call backward on."""

    total: torch.Tensor
    task: torch.Tensor
    balance: torch.Tensor | None  # the unweighted L_PN, when λ > 0


class Objective(nn.Module):
    """L = L_task + λ·L_PN: a registered task loss plus the positive-negative balanced term.

    Args:
        kind: the task loss, a registered kind (`TASK_LOSSES.kinds()`: ce, tet).
        balance: λ ≥ 0, the weight of L_PN; 0 (the default) turns it off, and the forward pass then
            needs no `observe()` block.
        granularity: "layer" balances each neuron layer as a whole, "channel" each channel on its
            own (dim 2 of x_seq), averaging the squared imbalances over channels.
        eps: ε in (P − M)/(P + M + ε), keeping a silent layer's term finite.
        **task_options: the task loss's own arguments (label_smoothing, tet_lambda).
    """

    def __init__(
        self,
        kind: str = "ce",
        balance: float = 0.0,
        granularity: Granularity = "layer",
        eps: float = 1e-8,
        **task_options: Any,
    ):
        super().__init__()
        require(balance >= 0, "balance", f"must be >= 0 (got {balance}); 0 turns the balanced term off")
        check_granularity(granularity)
        self.task = TASK_LOSSES.get(kind)(**task_options)
        self.balance = float(balance)
        self.granularity = granularity
        self.eps = eps

    @property
    def needs_observations(self) -> bool:
        """Whether forward needs the model run inside `observe()` (λ > 0)."""
        return self.balance > 0

    def forward(self, logits_seq: torch.Tensor, targets: torch.Tensor, seen: Observations | None = None) -> LossParts:
        """The loss of one batch.

        Args:
            logits_seq: per-step logits [T, B, K].
            targets: class indices [B].
            seen: what `observe()` recorded while the model ran; required when λ > 0.

        Returns:
            The total, the task loss and the unweighted L_PN (None when λ = 0).
        """
        require(
            logits_seq.dim() == 3,
            "logits_seq",
            f"must be per-step logits [T, B, K] (got shape {list(logits_seq.shape)}); "
            "for one output per sample use logits.unsqueeze(0)",
        )
        require(logits_seq.shape[0] >= 1, "logits_seq", "has T = 0 time steps")
        require(
            targets.shape == logits_seq.shape[1:2],
            "targets",
            f"must be class indices [B] = [{logits_seq.shape[1]}] (got shape {list(targets.shape)})",
        )
        task = self.task(logits_seq, targets)
        if not self.needs_observations:
            return LossParts(total=task, task=task, balance=None)
        require(
            seen is not None, "balance", "balance > 0 needs the forward pass run inside cfsnn_cli.neurons.observe()"
        )
        pn = balance_loss(seen.layers, self.granularity, self.eps)
        return LossParts(total=task + self.balance * pn, task=task, balance=pn)
