"""TensorBoard curves of a training run (`train.tensorboard = true`, extra `cfsnn[tensorboard]`):
one point per finished epoch, its step the epoch number, in the run folder's tb/.

Tags: train/loss, train/accuracy, test/loss, test/accuracy, test/top5, test/firing_rate, lr,
balance (with the PN term), firing_rate/<layer> and alpha/<layer>/t<k> (alpha/<layer> for a
surrogate with one α), <layer> being the spiking layer's module path in the model.
"""

import math
from pathlib import Path
from typing import Any

from torch import nn

from cfsnn_cli.extras import require_extra
from cfsnn_cli.neurons.layers import named_neuron_layers
from cfsnn_cli.recipe import Recipe

# metrics.jsonl key → tag
SCALARS = {
    "train_loss": "train/loss",
    "train_accuracy": "train/accuracy",
    "test_loss": "test/loss",
    "test_accuracy": "test/accuracy",
    "test_top5": "test/top5",
    "test_firing_rate": "test/firing_rate",
    "lr": "lr",
    "balance": "balance",
}


def check_tensorboard(recipe: Recipe) -> None:
    """Refuse `train.tensorboard = true` without the tensorboard package, before anything is written."""
    if recipe.train.tensorboard:
        require_extra("tensorboard", "tensorboard", "train.tensorboard")


class EpochBoard:
    """Writes each finished epoch to `log_dir`; made without a `log_dir`, it writes nothing.

    Args:
        log_dir: the folder of the event files (the run folder's tb/); None: no TensorBoard.
        model: the model being trained, whose spiking layers' α are written.
        resumed_at: the epochs a resumed run had finished; points written for later epochs (just
            before a crash, ahead of the saved state) are then hidden, so no epoch shows twice.
    """

    def __init__(self, log_dir: Path | None = None, model: nn.Module | None = None, resumed_at: int | None = None):
        self.writer = None
        self.layers = []
        if log_dir is None:
            return
        from torch.utils.tensorboard import SummaryWriter

        purge_step = None if resumed_at is None else resumed_at + 1
        self.writer = SummaryWriter(str(log_dir), purge_step=purge_step)
        if model is not None:
            self.layers = named_neuron_layers(model)

    def write_epoch(self, metrics: dict[str, Any], layer_firing_rates: dict[str, float]) -> None:
        """One epoch's points, from its metrics.jsonl line, the test split's per-layer firing rates
        (`Evaluation.layer_firing_rates`) and the α the model has now; on disk when it returns."""
        if self.writer is None:
            return
        step = metrics["epoch"]
        for key, tag in SCALARS.items():
            if metrics.get(key) is not None:
                self.writer.add_scalar(tag, metrics[key], step)
        for name, rate in layer_firing_rates.items():
            if math.isfinite(rate):  # NaN: the test pass never reached the layer
                self.writer.add_scalar(f"firing_rate/{name}", rate, step)
        for name, layer in self.layers:
            alpha = layer.surrogate.alpha_values().detach().double().tolist()
            if len(alpha) == 1:
                self.writer.add_scalar(f"alpha/{name}", alpha[0], step)
            else:
                for t, value in enumerate(alpha, start=1):
                    self.writer.add_scalar(f"alpha/{name}/t{t}", value, step)
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file (again: nothing)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
