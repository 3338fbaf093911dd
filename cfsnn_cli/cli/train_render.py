"""`cfsnn train`'s output: a progress bar per epoch, one line per finished epoch, and the epochs table."""

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table

from cfsnn_cli.cli.console import TerminalProgress, console, percent, say, short_exponent
from cfsnn_cli.engine.report import EpochFinished, RunStarted, StepFinished


class TrainingDisplay(TerminalProgress):
    """A progress bar per epoch with loss, accuracy, learning rate and throughput, on a terminal only:
    a pipe or a file gets the one-line epoch reports and nothing of the bar (rich would otherwise
    leave an empty line behind when the bar stops)."""

    def __init__(self, out: Console = console):
        self.console = out
        # The texts never wrap or shrink; on a narrow terminal the bar (ratio=1) gives up its width first.
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=3)),
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TextColumn(
                "loss {task.fields[loss]:.4f} acc {task.fields[accuracy]} lr {task.fields[lr]} "
                "{task.fields[speed]:.0f}/s",
                table_column=Column(no_wrap=True),
            ),
            TimeRemainingColumn(),
            console=out,
            transient=True,
            expand=True,
        )
        self.task = None
        self.shown_epoch = 0
        self.epochs = 0

    def run_started(self, event: RunStarted) -> None:
        self.epochs = event.epochs
        where = (
            f" (resuming epoch {event.start_epoch + 1}, step {event.start_step})"
            if event.start_epoch or event.start_step
            else ""
        )
        where_run = event.device if event.processes == 1 else f"{event.processes} processes ({event.device}, …)"
        say(
            self.console,
            f"[bold]{escape(event.recipe_name)}[/]: {event.parameters:,} parameters on {where_run}; "
            f"{event.train_samples} train / {event.test_samples} test samples; "
            f"run folder {escape(str(event.run_dir))}{where}",
        )

    def step_finished(self, event: StepFinished) -> None:
        fields = {
            "epoch": f"{event.epoch}/{self.epochs}",
            "loss": event.loss,
            "accuracy": f"{100 * event.accuracy:.1f}%",
            "lr": short_exponent(event.lr),
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
        say(
            self.console,
            f"epoch {m['epoch']:>3}/{self.epochs}: "
            f"train loss {m['train_loss']:.4f} acc {percent(m['train_accuracy'])}% | "
            f"test loss {m['test_loss']:.4f} acc {percent(m['test_accuracy'])}%{best} | {m['seconds']:.1f}s",
        )


def epochs_table(history: list[dict]) -> Table:
    """Fits 80 columns with room to spare (short number formats, two-space gaps, no outer edge):
    headers wrap, numbers do not, and on a much narrower terminal a number folds onto a second line
    rather than losing its exponent to "…"."""
    table = Table(title="epochs", show_edge=False, box=box.SIMPLE_HEAVY, padding=(0, 0, 0, 1))
    for column in ("epoch", "train loss", "train acc %", "PN balance", "test loss", "test acc %", "top-5 %", "lr", "s"):
        table.add_column(column, justify="right", overflow="fold")
    for m in history:
        balance = short_exponent(m.get("balance"))
        table.add_row(
            str(m["epoch"]),
            f"{m['train_loss']:.4f}",
            percent(m["train_accuracy"]),
            balance,
            f"{m['test_loss']:.4f}",
            percent(m["test_accuracy"]),
            percent(m["test_top5"]),
            short_exponent(m["lr"]),
            f"{m['seconds']:.1f}",
        )
    return table
