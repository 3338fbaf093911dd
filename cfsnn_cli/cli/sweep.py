"""`cfsnn sweep`: a grid or a search of training runs on Optuna, each trial an ordinary run folder;
rerunning the same command resumes, and any number of processes may share one sweep."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from cfsnn_cli.cli.train import RECIPE_HELP, SET_HELP
from cfsnn_cli.errors import CfsnnError

WORKER_LOG = "logs/worker-{}.log"
POLL_SECONDS = 2.0


def sweep(
    recipe: Annotated[str, typer.Argument(help=RECIPE_HELP, show_default=False)],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="The sweep folder: trials/, sweep.json, optuna.db. Rerun to resume.", show_default=False
        ),
    ],
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            help="A grid axis: section.field=value1,value2 (TOML literals; repeatable, one per field).",
            show_default=False,
        ),
    ] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Runs per grid configuration, seeds recipe.seed + 0..N-1.")] = 1,
    overrides: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP, show_default=False)] = None,
    search: Annotated[
        int | None,
        typer.Option(
            "--search", help="Search instead of a grid: this many trials, drawn from --space.", show_default=False
        ),
    ] = None,
    space: Annotated[
        Path | None,
        typer.Option("--space", help="The search's TOML space file (fields and their ranges).", show_default=False),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="An Optuna storage URL shared by every process of the sweep (default: a SQLite file in --out).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", help="Processes to run trials in at once on this machine (>= 1).")
    ] = 1,
) -> None:
    """Run a grid (--grid, --seeds) or a search (--search, --space) of trainings; every trial is a run
    folder under OUT/trials that eval, profile-spikes, export and compare read."""
    from cfsnn_cli.sweep.plan import make_plan
    from cfsnn_cli.sweep.run import import_optuna, start_sweep

    import_optuna()  # a missing extra is said before anything else
    if workers < 1:
        raise CfsnnError("--workers", f"must be >= 1 (got {workers})")
    plan = make_plan(recipe, overrides or [], grid or [], seeds, search, space)
    running, resumed = start_sweep(plan, out, storage)
    if workers == 1:
        _run_here(running, resumed)
    else:
        arguments = _worker_arguments(recipe, out, grid, seeds, overrides, search, space, storage)
        _run_workers(running, arguments, workers)
    _summary(out)


def _run_here(running, resumed: bool) -> None:
    from cfsnn_cli.cli.render import console, say
    from cfsnn_cli.cli.signals import stop_on_signals
    from cfsnn_cli.cli.sweep_render import SweepDisplay
    from cfsnn_cli.engine.train import InterruptedBeforeTraining, StopRequest, TrainingInterrupted

    stop = StopRequest()
    before = running.progress()
    if resumed:
        say(console, f"resuming the sweep in {running.folder.root}: {before.finished} of {before.total} runs finished")
    try:
        with SweepDisplay(before.total, before.finished) as display, stop_on_signals(stop, display.console.print):
            running.run(display, display, stop)
    except (TrainingInterrupted, InterruptedBeforeTraining) as stopped:
        # the trial's folder keeps its resumable state; the sweep, not `train --resume`, picks it up
        number = signal.SIGTERM if stopped.reason == "SIGTERM" else signal.SIGINT
        typer.echo(f"cfsnn: {stopped}; continue the sweep by running the same command again", err=True)
        raise typer.Exit(128 + number) from None


def _worker_arguments(recipe, out, grid, seeds, overrides, search, space, storage) -> list[str]:
    """The command line each worker process runs: this sweep, in one process."""
    arguments = [recipe, "--out", str(out), "--seeds", str(seeds), "--workers", "1"]
    for text in grid or []:
        arguments += ["--grid", text]
    for text in overrides or []:
        arguments += ["--set", text]
    if search is not None:
        arguments += ["--search", str(search)]
    if space is not None:
        arguments += ["--space", str(space)]
    if storage is not None:
        arguments += ["--storage", storage]
    return arguments


def _run_workers(running, arguments: list[str], workers: int) -> None:
    """Start `workers` processes on the sweep and show their joint progress until all end. Each
    runs in its own session, so a Ctrl-C reaches them once, from here (a second one would abort
    their checkpoint)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cfsnn_cli.cli.render import console, say
    from cfsnn_cli.sweep.run import worker_threads

    root = running.folder.root
    environment = {**os.environ, "OMP_NUM_THREADS": str(worker_threads(workers))}
    processes, logs = [], []
    for index in range(workers):
        log = root / WORKER_LOG.format(index)
        log.parent.mkdir(parents=True, exist_ok=True)
        logs.append(log)
        with open(log, "ab") as handle:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "cfsnn_cli", "sweep", *arguments],
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    env=environment,
                    start_new_session=True,
                )
            )
    say(console, f"{workers} worker processes on {root} (their output: {root / 'logs'})")

    def forward(number, _frame):
        for process in processes:
            if process.poll() is None:
                process.send_signal(number)

    previous = {number: signal.signal(number, forward) for number in (signal.SIGINT, signal.SIGTERM)}
    progress = Progress(
        TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    try:
        with progress:
            task = progress.add_task("runs", total=running.progress().total)
            while any(process.poll() is None for process in processes):
                progress.update(task, completed=running.progress().finished)
                time.sleep(POLL_SECONDS)
            progress.update(task, completed=running.progress().finished)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    failed = [(index, process.returncode) for index, process in enumerate(processes) if process.returncode != 0]
    if failed:
        index, code = failed[0]
        say(console, f"worker {index} ended with exit code {code}; its output: {logs[index]}")
        raise typer.Exit(code)


def _summary(out: Path) -> None:
    """The sweep's runs side by side, as `cfsnn compare OUT` shows them."""
    from cfsnn_cli.cli.compare import comparison_table, comparison_title
    from cfsnn_cli.cli.render import console, say
    from cfsnn_cli.engine.compare import find_runs, read_runs

    comparison = read_runs(find_runs([out]))
    console.print(comparison_table(comparison, comparison_title(comparison), console))
    say(console, f"sweep folder: {out}  (again, with --json or --plot: cfsnn compare {out})")
