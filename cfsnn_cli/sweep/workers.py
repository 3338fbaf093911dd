"""`--workers N`: N processes on this machine, each running the same sweep in one process (as
any number of processes on any machines may), sharing the cores, their output in the sweep
folder's logs/. They share the starting process's group, so a Ctrl-C at the terminal (or a closed
terminal) reaches each of them once, as it reaches the starter, which waits for them; a SIGTERM
sent to the starter alone is passed on."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cfsnn_cli.engine.run_folder import LOGS_FOLDER

WORKER_VARIABLE = "CFSNN_SWEEP_WORKER"  # set in the workers: their starter greets and sums up, once
POLL_SECONDS = 2.0


def a_worker() -> bool:
    """Whether this process is one of a sweep's `--workers` processes."""
    return os.environ.get(WORKER_VARIABLE) == "1"


def worker_threads(workers: int) -> int:
    """Torch threads per worker process: the cores this process may run on, shared out, at least one each."""
    return max(1, len(os.sched_getaffinity(0)) // workers)


def sweep_arguments(recipe, out, grid, seeds, overrides, search, space, storage) -> list[str]:
    """The `cfsnn sweep` arguments of one worker: this sweep, in one process."""
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


@dataclass
class WorkersEnded:
    """How the workers ended: `stopped_by` the first signal this process got (None: none), or each
    worker's exit code and log."""

    stopped_by: str | None
    exit_codes: list[int]
    logs: list[Path]


def run_workers(root: Path, arguments: list[str], workers: int, tick: Callable[[], None]) -> WorkersEnded:
    """Start `workers` processes of `cfsnn sweep ARGUMENTS` on the sweep folder `root`, call `tick`
    every POLL_SECONDS while any runs (and once at the end), and wait for all of them."""
    environment = {**os.environ, "OMP_NUM_THREADS": str(worker_threads(workers)), WORKER_VARIABLE: "1"}
    processes, logs = [], []
    for index in range(workers):
        log = root / LOGS_FOLDER / f"worker-{index}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        logs.append(log)
        with open(log, "ab") as handle:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "cfsnn_cli", "sweep", *arguments],
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    env=environment,
                )
            )
    stopped_by: list[str] = []

    def wait_for_workers(number, _frame):
        stopped_by.append(signal.Signals(number).name)
        if number == signal.SIGTERM:  # sent to this process alone: the workers would train on
            for process in processes:
                if process.poll() is None:
                    process.send_signal(number)

    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, wait_for_workers) for number in handled}
    try:
        while any(process.poll() is None for process in processes):
            tick()
            time.sleep(POLL_SECONDS)
        tick()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return WorkersEnded(stopped_by[0] if stopped_by else None, [p.returncode for p in processes], logs)
