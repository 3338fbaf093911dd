"""Rich rendering of what the engine reports: progress while it runs, tables when it is done."""

import math
import re

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table

from cfsnn_cli.engine.report import EpochFinished, Reporter, RunStarted, StepFinished

console = Console()


def percent(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def _short_exponent(value: float | None) -> str:
    """2.8e-3 rather than 2.80e-03: two characters fewer in every table that has to fit 80 columns."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{value:.1e}")


def say(out: Console, text: str) -> None:
    """One line of the log, never wrapped by rich: a piped or grepped line stays one line, and a long
    run folder path stays whole (a terminal still folds it on screen)."""
    out.print(text, soft_wrap=True)


class TerminalProgress(Reporter):
    """A rich progress display that shows only on a terminal: piped or captured output gets no
    bar, its redraw codes or the blank line a stopped bar leaves. Subclasses set `console` and
    `progress`."""

    console: Console
    progress: Progress

    def __enter__(self):
        if self.console.is_terminal and not self.console.is_dumb_terminal:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress.live.is_started:
            self.progress.stop()


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
            "lr": _short_exponent(event.lr),
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


class EvaluationProgress(TerminalProgress):
    """A transient bar of batches done while `eval` or `profile-spikes` runs, on a terminal only (as
    `TrainingDisplay`): a pipe or a file gets the tables and nothing of the bar."""

    def __init__(self, description: str, out: Console = console):
        self.console = out
        self.description = description
        self.progress = Progress(
            TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=3)),
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TextColumn("batches", table_column=Column(no_wrap=True)),
            TimeRemainingColumn(),
            console=out,
            transient=True,
            expand=True,
        )
        self.task = None

    def evaluation_progress(self, done: int, total: int) -> None:
        total_or_unknown = total if total > 0 else None  # a loader without len(): a pulsing bar
        if self.task is None:
            self.task = self.progress.add_task(self.description, total=total_or_unknown)
        self.progress.update(self.task, completed=done, total=total_or_unknown)


def epochs_table(history: list[dict]) -> Table:
    """Fits 80 columns with room to spare (short number formats, two-space gaps, no outer edge):
    headers wrap, numbers do not, and on a much narrower terminal a number folds onto a second line
    rather than losing its exponent to "…"."""
    table = Table(title="epochs", show_edge=False, box=box.SIMPLE_HEAVY, padding=(0, 0, 0, 1))
    for column in ("epoch", "train loss", "train acc %", "PN balance", "test loss", "test acc %", "top-5 %", "lr", "s"):
        table.add_column(column, justify="right", overflow="fold")
    for m in history:
        balance = _short_exponent(m.get("balance"))
        table.add_row(
            str(m["epoch"]),
            f"{m['train_loss']:.4f}",
            percent(m["train_accuracy"]),
            balance,
            f"{m['test_loss']:.4f}",
            percent(m["test_accuracy"]),
            percent(m["test_top5"]),
            _short_exponent(m["lr"]),
            f"{m['seconds']:.1f}",
        )
    return table


DESCRIPTION_MIN_WIDTH = 40  # narrower, and a one-sentence description becomes a column of word stubs
DROPPED_FIRST = ("data", "neuron")  # what descriptions already name (the dataset) or rarely differs (the neuron)


def recipes_table(rows: list[dict[str, str]], width: int) -> Table:
    """The recipes, one per row, the description last and wrapping; the other columns never wrap.
    If the description would get fewer than DESCRIPTION_MIN_WIDTH characters (80 columns), the
    columns that say least go, so that what each recipe is for stays readable."""
    fields = [column for column in rows[0] if column != "description"] if rows else []

    def fixed_width(columns):  # each column: its widest cell plus a space either side and a border
        return sum(max(len(column), *(len(row[column]) for row in rows)) + 3 for column in columns) + 1

    if width - fixed_width(fields) - 3 < DESCRIPTION_MIN_WIDTH:
        fields = [column for column in fields if column not in DROPPED_FIRST]
    table = Table(title="shipped recipes")
    for column in fields:
        table.add_column(column, no_wrap=True)
    table.add_column("description", ratio=1)
    for row in rows:
        table.add_row(*(row[column] for column in fields), row["description"])
    return table


def evaluation_tables(checkpoint, result, split: str) -> list[Table]:
    summary = Table(
        title=f"{checkpoint.recipe.name}: {split} split, {result.samples} samples, T = {len(result.latency)}"
    )
    for column in ("top-1 %", "top-5 %", "loss", "checkpoint epoch"):
        summary.add_column(column, justify="right")
    summary.add_row(percent(result.top1), percent(result.top5), f"{result.loss:.4f}", str(checkpoint.epoch))

    per_class = Table(title="per-class accuracy")
    per_class.add_column("class")
    per_class.add_column("acc %", justify="right")
    for name, accuracy in result.per_class.items():
        per_class.add_row(name, percent(accuracy))

    steps = latency_steps(len(result.latency))
    folded = len(steps) < len(result.latency)
    latency = Table(
        title="accuracy of the output averaged over steps 1..t",
        caption=f"t = 1..{FIRST_STEPS}, then a selection; --json has every t" if folded else None,
    )
    latency.add_column("t", justify="right")
    latency.add_column("acc %", justify="right")
    for step in steps:
        latency.add_row(str(step), percent(result.latency[step - 1]))
    return [summary, per_class, latency]


FIRST_STEPS = 8  # the early steps, where a latency curve changes fastest, are always shown
LATER_ROWS = 10  # about this many rows more for the rest, however long T is


def latency_steps(timesteps: int) -> list[int]:
    """The steps t the latency table shows: all of them up to 2·FIRST_STEPS, else 1..FIRST_STEPS,
    every k-th step after (k a round number: 1-2-5 steps, or powers of two when T is one) and T.
    At T = 4096 that is 1..8, 512, 1024, …, 4096 instead of 4096 rows."""
    if timesteps <= 2 * FIRST_STEPS:
        return list(range(1, timesteps + 1))
    if timesteps & (timesteps - 1) == 0:
        candidates = (2**e for e in range(timesteps.bit_length()))
    else:
        candidates = (m * 10**e for e in range(len(str(timesteps))) for m in (1, 2, 5))
    stride = next(k for k in candidates if timesteps / k <= LATER_ROWS)
    later = range((FIRST_STEPS // stride + 1) * stride, timesteps, stride)
    return [*range(1, FIRST_STEPS + 1), *later, timesteps]
