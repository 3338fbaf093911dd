"""Rich rendering of what the engine reports: progress while it runs, tables when it is done."""

import math

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cfsnn_cli.engine.report import EpochFinished, Reporter, RunStarted, StepFinished

console = Console()


def _percent(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


class TrainingDisplay(Reporter):
    """A progress bar per epoch with loss, accuracy, learning rate and throughput."""

    def __init__(self, out: Console = console):
        self.console = out
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "loss {task.fields[loss]:.4f}  acc {task.fields[accuracy]:.3f}  lr {task.fields[lr]:.2e}  "
                "{task.fields[speed]:.0f} samples/s"
            ),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=out,
            transient=True,
        )
        self.task = None
        self.shown_epoch = 0
        self.epochs = 0

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def run_started(self, event: RunStarted) -> None:
        self.epochs = event.epochs
        where = (
            f" (resuming epoch {event.start_epoch + 1}, step {event.start_step})"
            if event.start_epoch or event.start_step
            else ""
        )
        self.console.print(
            f"[bold]{event.recipe_name}[/]: {event.parameters:,} parameters on {event.device}; "
            f"{event.train_samples} train / {event.test_samples} test samples; run folder {event.run_dir}{where}"
        )

    def step_finished(self, event: StepFinished) -> None:
        fields = {
            "epoch": f"{event.epoch}/{self.epochs}",
            "loss": event.loss,
            "accuracy": event.accuracy,
            "lr": event.lr,
            "speed": event.samples_per_second,
        }
        if self.task is None:
            self.task = self.progress.add_task("train", total=event.steps, completed=event.step - 1, **fields)
        elif event.epoch != self.shown_epoch:
            self.progress.reset(self.task, total=event.steps, completed=event.step - 1, **fields)
        self.shown_epoch = event.epoch
        self.progress.update(self.task, completed=event.step, **fields)

    def epoch_finished(self, event: EpochFinished) -> None:
        m = event.metrics
        best = " [green]best[/]" if event.is_best else ""
        self.console.print(
            f"epoch {m['epoch']:>3}/{self.epochs}: "
            f"train loss {m['train_loss']:.4f} acc {_percent(m['train_accuracy'])}% | "
            f"test loss {m['test_loss']:.4f} acc {_percent(m['test_accuracy'])}%{best} | {m['seconds']:.1f}s"
        )


def epochs_table(history: list[dict]) -> Table:
    table = Table(title="epochs")
    for column in ("epoch", "train loss", "train acc %", "PN balance", "test loss", "test acc %", "top-5 %", "lr", "s"):
        table.add_column(column, justify="right")
    for m in history:
        balance = "-" if m.get("balance") is None else f"{m['balance']:.1e}"
        table.add_row(
            str(m["epoch"]),
            f"{m['train_loss']:.4f}",
            _percent(m["train_accuracy"]),
            balance,
            f"{m['test_loss']:.4f}",
            _percent(m["test_accuracy"]),
            _percent(m["test_top5"]),
            f"{m['lr']:.1e}",
            f"{m['seconds']:.1f}",
        )
    return table


def evaluation_tables(checkpoint, result, split: str) -> list[Table]:
    summary = Table(
        title=f"{checkpoint.recipe.name}: {split} split, {result.samples} samples, T = {len(result.latency)}"
    )
    for column in ("top-1 %", "top-5 %", "loss", "checkpoint epoch"):
        summary.add_column(column, justify="right")
    summary.add_row(_percent(result.top1), _percent(result.top5), f"{result.loss:.4f}", str(checkpoint.epoch))

    per_class = Table(title="per-class accuracy")
    per_class.add_column("class")
    per_class.add_column("acc %", justify="right")
    for name, accuracy in result.per_class.items():
        per_class.add_row(name, _percent(accuracy))

    latency = Table(title="accuracy of the output averaged over steps 1..t")
    latency.add_column("t", justify="right")
    latency.add_column("acc %", justify="right")
    for step, accuracy in enumerate(result.latency, start=1):
        latency.add_row(str(step), _percent(accuracy))
    return [summary, per_class, latency]
