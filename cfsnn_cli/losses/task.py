"""Task losses on per-step logits [T, B, K]."""

import torch
from torch import nn
from torch.nn import functional as F

from cfsnn_cli.errors import require
from cfsnn_cli.losses.registry import TASK_LOSSES


def _check_smoothing(label_smoothing: float) -> float:
    require(0 <= label_smoothing < 1, "label_smoothing", f"must be in [0, 1) (got {label_smoothing})")
    return float(label_smoothing)


@TASK_LOSSES.register("ce")
class TimeAveragedCrossEntropy(nn.Module):
    """Cross-entropy of the output averaged over time: CE(mean_t O_t, y).

    Args:
        label_smoothing: ε in [0, 1): the target puts 1 − ε on the class and spreads ε over all K.
    """

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = _check_smoothing(label_smoothing)

    def forward(self, logits_seq: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The mean loss over the batch: logits_seq [T, B, K], targets [B] class indices → a 0-d tensor."""
        return F.cross_entropy(logits_seq.mean(0), targets, label_smoothing=self.label_smoothing)


@TASK_LOSSES.register("tet")
class TemporalEfficientTraining(nn.Module):
    """TET as Deng et al. (ICLR 2022) publish it: (1 − λ)·mean_t CE(O_t, y) + λ·mean_t MSE(O_t, φ), φ = 1.

    Every step is pushed towards the right class on its own, which is what lets a model trained
    at T steps answer early (the latency curve `cfsnn eval` reports). The 1 − λ is their code's
    (`(1 - lamb) * Loss_es + lamb * Loss_mmd`): a baseline the ablation compares against must be
    the published one, and it keeps the loss's scale as λ grows.

    Args:
        label_smoothing: ε in [0, 1) for every step's cross-entropy.
        tet_lambda: λ in [0, 1), the weight of the MSE anchor that pulls every logit towards φ = 1;
            0 drops it (λ = 1 would drop the cross-entropy).
    """

    def __init__(self, label_smoothing: float = 0.0, tet_lambda: float = 0.05):
        super().__init__()
        self.label_smoothing = _check_smoothing(label_smoothing)
        require(0 <= tet_lambda < 1, "tet_lambda", f"must be in [0, 1) (got {tet_lambda})")
        self.tet_lambda = float(tet_lambda)

    def forward(self, logits_seq: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The mean loss over steps and batch: logits_seq [T, B, K], targets [B] class indices → a 0-d tensor."""
        steps, batch, classes = logits_seq.shape
        per_step = F.cross_entropy(
            logits_seq.reshape(steps * batch, classes),
            targets.repeat(steps),
            label_smoothing=self.label_smoothing,
        )
        if self.tet_lambda == 0:
            return per_step
        anchor = F.mse_loss(logits_seq, torch.ones_like(logits_seq))
        return (1 - self.tet_lambda) * per_step + self.tet_lambda * anchor
