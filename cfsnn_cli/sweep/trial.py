"""One trial's run folder, claimed by a lock (`lock_claimed`), then read if finished, resumed if
interrupted, or trained from the start (`run_trial`). Whatever stopped a trial before (Ctrl-C, a
killed process, a lost machine), running it again never repeats a finished epoch, and two
processes never train one folder."""

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfsnn_cli.engine.report import EpochFinished, Reporter
from cfsnn_cli.engine.run_folder import read_metrics
from cfsnn_cli.engine.train import train
from cfsnn_cli.engine.training_ends import StopRequest, TrainingInterrupted
from cfsnn_cli.engine.training_state import resume_recipe, saved_position
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.recipe import Recipe

PRUNED = "pruned"  # the StopRequest reason a pruning decision gives


@dataclass
class TrialOutcome:
    """How a trial's run ended: `pruned`, or finished (perhaps `already_finished` before)."""

    pruned: bool = False
    final_accuracy: float | None = None
    resumed: bool = False
    already_finished: bool = False


@contextmanager
def lock_claimed(lock_path: Path, wait: bool = False) -> Iterator[bool]:
    """Hold an exclusive lock on `lock_path` for the block; yields False (and holds nothing) when
    another process has it, or waits for it with `wait`. The kernel drops a lock with its process,
    so a killed worker's run is free again at once: no stale lock files to clean up."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)  # closing releases the lock


def lock_is_free(lock_path: Path) -> bool:
    """Whether no live process holds `lock_path` (taken and dropped at once to find out)."""
    with lock_claimed(lock_path) as free:
        return free


class PruningReporter(Reporter):
    """Passes every event on to `shown`, and after each epoch asks `should_stop(epoch, metrics)`
    (Optuna's pruner); a yes stops training after that epoch, with its state saved."""

    def __init__(self, shown: Reporter, stop: StopRequest, should_stop: Callable[[int, dict[str, Any]], bool]):
        self.shown, self.stop, self.should_stop = shown, stop, should_stop

    def run_started(self, event) -> None:
        self.shown.run_started(event)

    def step_finished(self, event) -> None:
        self.shown.step_finished(event)

    def evaluation_progress(self, done: int, total: int) -> None:
        self.shown.evaluation_progress(done, total)

    def epoch_finished(self, event: EpochFinished) -> None:
        self.shown.epoch_finished(event)
        if self.stop.reason is None and self.should_stop(event.metrics["epoch"], event.metrics):
            self.stop.request(PRUNED)


def run_trial(
    recipe: Recipe,
    run_dir: Path,
    reporter: Reporter,
    stop: StopRequest,
    should_stop: Callable[[int, dict[str, Any]], bool] | None = None,
) -> TrialOutcome:
    """Bring the run of `recipe` in `run_dir` to its end; the caller holds the folder's lock.

    Raises what `train` raises; TrainingInterrupted for a signal (the folder then resumes next time).
    """
    try:
        position = saved_position(run_dir)
        stored = resume_recipe(run_dir) if position is not None else None
    except CfsnnError as error:  # a state file cut short by a full disk, say
        raise CfsnnError("out", f"trial folder {run_dir}: {error.problem}") from None
    if stored is not None and stored.to_dict() != recipe.to_dict():
        raise CfsnnError("out", f"{run_dir} holds a run of another recipe; give the sweep another `out`")
    if position is not None and position.epoch >= recipe.train.epochs:
        return TrialOutcome(final_accuracy=_final_accuracy(run_dir), already_finished=True)
    resuming = position is not None
    if not resuming and run_dir.exists():
        # a process killed before its first epoch ended leaves at most the recipe: start over
        shutil.rmtree(run_dir)
    watched = PruningReporter(reporter, stop, should_stop) if should_stop else reporter
    try:
        result = train(recipe, run_dir, resume=resuming, reporter=watched, stop=stop)
    except TrainingInterrupted as interrupted:
        if interrupted.reason != PRUNED:
            raise
        stop.reason = None  # the sweep goes on with its next trial
        return TrialOutcome(pruned=True, resumed=resuming)
    if stop.reason == PRUNED:  # pruned after the last epoch: it is finished all the same
        stop.reason = None
    return TrialOutcome(final_accuracy=result.final["test_accuracy"], resumed=resuming)


def _final_accuracy(run_dir: Path) -> float:
    return read_metrics(run_dir)[-1]["test_accuracy"]
