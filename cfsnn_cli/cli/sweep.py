"""`cfsnn sweep`: a grid or a search of training runs on Optuna, each trial an ordinary run folder;
rerunning the same command resumes, and any number of processes may share one sweep."""

import signal
from pathlib import Path
from typing import Annotated

import typer

from cfsnn_cli.cli.train import SET_HELP
from cfsnn_cli.errors import EXIT_USER_ERROR, CfsnnError


def sweep(
    recipe: Annotated[
        str,
        typer.Argument(
            help="A recipe file, or the name of a shipped recipe (see `cfsnn recipes`).", show_default=False
        ),
    ],
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
    from cfsnn_cli.cli.output_paths import check_output_folder, refuse_owned
    from cfsnn_cli.sweep.folder import SQLITE_PREFIX
    from cfsnn_cli.sweep.plan import make_plan
    from cfsnn_cli.sweep.run import start_sweep
    from cfsnn_cli.sweep.study import import_optuna
    from cfsnn_cli.sweep.workers import a_worker, sweep_arguments

    import_optuna()  # a missing extra is said before anything else
    if workers < 1:
        raise CfsnnError("--workers", f"must be >= 1 (got {workers})")
    out = check_output_folder("--out", out)
    if storage is not None and storage.startswith(SQLITE_PREFIX):  # a database file: where the rule applies
        refuse_owned("--storage", Path(storage[len(SQLITE_PREFIX) :]))
    plan = make_plan(recipe, overrides or [], grid or [], seeds, search, space)
    running, resumed = start_sweep(plan, out, storage)
    if workers == 1:
        _run_here(running, resumed and not a_worker())
    else:
        _run_workers(running, sweep_arguments(recipe, out, grid, seeds, overrides, search, space, storage), workers)
    if not a_worker():
        _summary(running)


def _run_here(running, resumed: bool) -> None:
    from cfsnn_cli.cli.console import console, say
    from cfsnn_cli.cli.signals import stop_on_signals
    from cfsnn_cli.cli.sweep_render import SweepDisplay
    from cfsnn_cli.engine.training_ends import (
        InterruptedBeforeTraining,
        RunFolderWriteFailed,
        StopRequest,
        TrainingInterrupted,
    )

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
    except RunFolderWriteFailed as failed:  # the trial resumes from its last whole state, as after a signal
        typer.echo(f"cfsnn: error: {failed}; once it is fixed, run the same command again", err=True)
        raise typer.Exit(EXIT_USER_ERROR) from None


def _run_workers(running, arguments: list[str], workers: int) -> None:
    """Start `workers` processes on the sweep (sweep/workers.py) and show their joint progress."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cfsnn_cli.cli.console import console, say
    from cfsnn_cli.engine.run_folder import LOGS_FOLDER
    from cfsnn_cli.sweep.workers import run_workers

    root = running.folder.root
    say(console, f"{workers} worker processes on {root} (their output: {root / LOGS_FOLDER})")
    progress = Progress(
        TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    with progress:
        task = progress.add_task("runs", total=running.progress().total)
        ended = run_workers(
            root, arguments, workers, lambda: progress.update(task, completed=running.progress().finished)
        )
    if ended.stopped_by:
        say(console, f"{ended.stopped_by}: the workers saved their trials; continue by running the same command again")
        raise typer.Exit(128 + signal.Signals[ended.stopped_by])
    failed = [(index, code) for index, code in enumerate(ended.exit_codes) if code != 0]
    if failed:
        index, code = failed[0]
        say(console, f"worker {index} ended with exit code {code}; its output: {ended.logs[index]}")
        raise typer.Exit(code if code > 0 else 128 - code)  # -N: killed by signal N


def _summary(running) -> None:
    """The sweep's runs side by side, as `cfsnn compare OUT` shows them (when it has any), and what
    is left: runs other processes still train, or that failed."""
    from cfsnn_cli.cli.compare_render import print_comparison
    from cfsnn_cli.cli.console import console, say
    from cfsnn_cli.engine.compare import find_runs, read_runs
    from cfsnn_cli.engine.run_folder import TRIALS_FOLDER

    out = running.folder.root
    if any((out / TRIALS_FOLDER).glob("*/recipe.toml")):
        comparison = read_runs(find_runs([out]))
        print_comparison(comparison, console)
    progress = running.progress()
    left = f"; {progress.total - progress.finished} not finished yet" if progress.finished < progress.total else ""
    say(console, f"sweep folder: {out}: {progress.finished} of {progress.total} runs finished{left}")
    say(console, f"  (side by side, with --json or --plot: cfsnn compare {out})")
