"""What every command's output shares: the console, one-line log messages, number formats, and
progress bars that show only on a terminal."""

import math
import re

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column

from cfsnn_cli.engine.report import Reporter

console = Console()


def percent(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def short_exponent(value: float | None) -> str:
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
