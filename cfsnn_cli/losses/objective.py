"""The training objective: L = L_task + λ·L_PN."""

from dataclasses import dataclass

import torch
from torch import nn

from cfsnn_cli.errors import require
from cfsnn_cli.losses.balance import Granularity, balance_loss, check_granularity
from cfsnn_cli.losses.registry import TASK_LOSSES
from cfsnn_cli.neurons.observe import Observations


@dataclass
class LossParts:
    total: torch.Tensor
    task: torch.Tensor
    balance: torch.Tensor | None  # the unweighted L_PN, when λ > 0


class Objective(nn.Module):
    def __init__(
        self,
        kind: str = "ce",
        balance: float = 0.0,
        granularity: Granularity = "layer",
        eps: float = 1e-8,
        **task_options,
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
        return self.balance > 0

    def forward(self, logits_seq: torch.Tensor, targets: torch.Tensor, seen: Observations | None = None) -> LossParts:
        task = self.task(logits_seq, targets)
        if not self.needs_observations:
            return LossParts(total=task, task=task, balance=None)
        require(
            seen is not None, "balance", "balance > 0 needs the forward pass run inside cfsnn_cli.neurons.observe()"
        )
        pn = balance_loss(seen.layers, self.granularity, self.eps)
        return LossParts(total=task + self.balance * pn, task=task, balance=pn)
