"""What `cfsnn sweep` shows while it runs in one process: a line as each trial starts and ends, and
on a terminal two bars, the sweep's runs and the epoch in progress."""

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column

from cfsnn_cli.cli.console import TerminalProgress, console, say
from cfsnn_cli.cli.plots import training_plot
from cfsnn_cli.engine.report import StepFinished
from cfsnn_cli.engine.run_folder import CURVES_FILE, read_metrics
from cfsnn_cli.sweep.run import SweepEvents


class SweepDisplay(TerminalProgress, SweepEvents):
    """The trainings' reporter and the sweep's events in one display."""

    def __init__(self, total: int, finished: int, out: Console = console):
        self.console = out
        self.progress = Progress(
            TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=3)),
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TimeElapsedColumn(),
            console=out,
            transient=True,
            expand=True,
        )
        self.runs = self.progress.add_task("runs", total=total, completed=finished)
        self.steps = None
        self.finished = finished

    def trial_started(self, number: int, name: str, assignment: dict[str, str], resumed: bool) -> None:
        how = "resuming" if resumed else "starting"
        say(self.console, f"trial {number}: {how} {escape(name)}")

    def trial_finished(self, name: str, run_dir: Path, note: str, settled: bool) -> None:
        if settled:
            self.finished += 1
            self.progress.update(self.runs, completed=self.finished)
            history = read_metrics(run_dir)
            if history:  # a trial's folder is a run folder like any other: its curves too
                training_plot(history, name, run_dir / CURVES_FILE)
        say(self.console, f"  {escape(name)}: {escape(note)}")

    def step_finished(self, event: StepFinished) -> None:
        description = f"epoch {event.epoch}"
        if self.steps is None:
            self.steps = self.progress.add_task(description, total=event.steps)
        self.progress.update(self.steps, description=description, total=event.steps, completed=event.step)
