"""Task losses (`ce`, `tet`) and the positive-negative balanced term."""

from cfsnn_cli.losses.balance import balance_loss, layer_imbalance
from cfsnn_cli.losses.objective import LossParts, Objective
from cfsnn_cli.losses.registry import TASK_LOSSES
from cfsnn_cli.losses.task import TemporalEfficientTraining, TimeAveragedCrossEntropy

__all__ = [
    "TASK_LOSSES",
    "LossParts",
    "Objective",
    "TemporalEfficientTraining",
    "TimeAveragedCrossEntropy",
    "balance_loss",
    "layer_imbalance",
]
