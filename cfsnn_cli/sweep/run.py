"""Running a sweep on Optuna: the study lives in a storage (a SQLite file in the sweep folder, or any
database Optuna takes), so any number of `cfsnn sweep` processes, on one machine or many, share
one sweep; each trial is an ordinary run folder under `trials/`.

How a trial's fate is kept:
- a grid's configurations come from Optuna's GridSampler; a search's from its default sampler,
  pruned on the per-epoch test accuracy by its median pruner;
- a trial stopped by a signal is told FAIL and marked `interrupted`; a trial whose process was
  killed stays RUNNING with its folder's lock free. Either is queued again when a sweep process
  starts, under the same run name, and resumes its folder from the last saved step;
- a trial that finds its folder locked by a live process is told PRUNED and marked `busy`, so
  two processes never train one configuration; one that finds its folder finished only reads it.
"""

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfsnn_cli.atomic import atomic_write_text
from cfsnn_cli.engine.report import Reporter
from cfsnn_cli.engine.run_folder import LOCKS_FOLDER, SWEEP_DATABASE, SWEEP_FILE, TRIALS_FOLDER
from cfsnn_cli.engine.train import InterruptedBeforeTraining, StopRequest, TrainingDiverged, TrainingInterrupted
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.extras import require_extra
from cfsnn_cli.sweep.plan import SweepPlan, run_name
from cfsnn_cli.sweep.trial import TrialOutcome, lock_is_free, run_trial

FORMAT = "cfsnn-sweep/1"
# what a trial carries in Optuna's user attributes
RUN_ATTR = "run"  # its run folder's name under trials/
INTERRUPTED_ATTR = "interrupted"  # stopped by a signal: run it again
BUSY_ATTR = "busy"  # another process held its folder: not a result
DIVERGED_ATTR = "diverged"  # the loss became NaN: a result of a kind, never retried


@dataclass(frozen=True)
class SweepFolder:
    """The one place that knows a sweep folder's layout."""

    root: Path

    @property
    def definition_file(self) -> Path:
        return self.root / SWEEP_FILE

    def run_dir(self, name: str) -> Path:
        return self.root / TRIALS_FOLDER / name

    def lock_path(self, name: str) -> Path:
        return self.root / LOCKS_FOLDER / f"{name}.lock"

    def default_storage(self) -> str:
        return f"sqlite:///{(self.root / SWEEP_DATABASE).resolve()}"


def import_optuna():
    """Optuna, quiet (its INFO line per trial would break the progress display); a CfsnnError with
    the install line when the `sweep` extra is missing."""
    require_extra("optuna", "sweep", "cfsnn sweep")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return optuna


def open_storage(url: str):
    """An Optuna storage for `url`; a URL or database Optuna refuses is a CfsnnError naming --storage."""
    optuna = import_optuna()
    # SQLite lets one writer in at a time; processes sharing the file wait for each other rather than fail
    engine = {"connect_args": {"timeout": 300}} if url.startswith("sqlite") else {}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine)
    except Exception as error:  # SQLAlchemy and the drivers raise many kinds; all mean "cannot use this"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CfsnnError("--storage", f"Optuna cannot use {url!r}: {reason}") from None


def prepare_folder(folder: SweepFolder, plan: SweepPlan) -> bool:
    """Create the sweep folder with its definition, or check that the one there is this sweep's.
    Returns whether it existed (the sweep resumes)."""
    root, definition = folder.root, plan.definition()
    if root.exists() and not root.is_dir():
        raise CfsnnError("--out", f"{root} is a file, not a folder")
    if folder.definition_file.is_file():
        try:
            stored = json.loads(folder.definition_file.read_text())["definition"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CfsnnError(
                "--out", f"{folder.definition_file} is not a readable sweep definition ({error})"
            ) from None
        differing = [key for key in definition if stored.get(key) != json.loads(json.dumps(definition[key]))]
        if differing:
            raise CfsnnError(
                "--out",
                f"{root} holds another sweep (its {', '.join(differing)} differ); rerun its own command to "
                "resume it, or give this sweep another --out",
            )
        return True
    if root.exists() and any(root.iterdir()):
        raise CfsnnError("--out", f"{root} already holds files but no {SWEEP_FILE}; give the sweep an empty folder")
    root.mkdir(parents=True, exist_ok=True)
    record = {"format": FORMAT, "study": plan.study_name(), "definition": definition}
    atomic_write_text(folder.definition_file, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return False


class SweepEvents:
    """What the sweep tells whoever runs it, between the trainings (whose own reporter shows them)."""

    def trial_started(self, number: int, name: str, assignment: dict[str, str], resumed: bool) -> None: ...

    def trial_finished(self, name: str, outcome: TrialOutcome | None, note: str) -> None: ...


@dataclass
class SweepProgress:
    """How far the sweep is: finished runs out of all it will run."""

    finished: int
    total: int


class Sweep:
    """One process's part of a sweep: opens (or joins) the study and runs trials until none is left."""

    def __init__(self, plan: SweepPlan, folder: SweepFolder, storage):
        self.optuna = import_optuna()
        self.plan, self.folder = plan, folder
        optuna = self.optuna
        if plan.is_search:
            sampler, pruner = optuna.samplers.TPESampler(), optuna.pruners.MedianPruner()
        else:
            space = {axis.field: list(axis.literals) for axis in plan.grid}
            # the same seed in every process, as Optuna asks for distributed grids
            sampler, pruner = _grid_sampler(optuna, space), optuna.pruners.NopPruner()
        self.sampler = sampler
        self.study = optuna.create_study(
            storage=storage,
            study_name=plan.study_name(),
            sampler=sampler,
            pruner=pruner,
            direction="maximize",
            load_if_exists=True,
        )

    # -- the state of the study

    def _trials(self):
        return self.study.get_trials(deepcopy=False)

    def _settled(self, trial) -> bool:
        """A trial whose configuration needs no more work: finished, pruned or diverged."""
        state = self.optuna.trial.TrialState
        if trial.user_attrs.get(BUSY_ATTR):
            return False
        return trial.state in (state.COMPLETE, state.PRUNED) or (
            trial.state == state.FAIL and DIVERGED_ATTR in trial.user_attrs
        )

    def progress(self) -> SweepProgress:
        settled = {t.user_attrs.get(RUN_ATTR) for t in self._trials() if self._settled(t)}
        total = self.plan.trials if self.plan.is_search else len(self.plan.points())
        return SweepProgress(len(settled - {None}), total)

    def _waiting(self) -> bool:
        state = self.optuna.trial.TrialState
        return any(t.state == state.WAITING for t in self._trials())

    def done(self) -> bool:
        if self._waiting():
            return False
        progress = self.progress()
        if progress.finished >= progress.total:
            return True
        # every configuration has had its trial, some still running in other processes (or ended
        # by an error): this process has nothing left to start
        return not self.plan.is_search and self.sampler.is_exhausted(self.study)

    def queue_interrupted(self) -> int:
        """Queue again, under their run names, the trials a signal or a killed process stopped.
        Two processes starting together may both queue one: the second copy finds the folder
        busy or finished, and costs nothing."""
        state = self.optuna.trial.TrialState
        by_run: dict[str, list] = {}
        for trial in self._trials():
            if RUN_ATTR in trial.user_attrs:
                by_run.setdefault(trial.user_attrs[RUN_ATTR], []).append(trial)
        queued = 0
        for name, trials in sorted(by_run.items()):
            if any(self._settled(t) or t.state == state.WAITING for t in trials):
                continue
            running = [t for t in trials if t.state == state.RUNNING]
            if running and not lock_is_free(self.folder.lock_path(name)):
                continue  # a live process is on it
            stopped = running or [t for t in trials if t.user_attrs.get(INTERRUPTED_ATTR)]
            if stopped:
                latest = max(stopped, key=lambda t: t.number)
                self.study.enqueue_trial(dict(latest.params), user_attrs={RUN_ATTR: name})
                queued += 1
        return queued

    # -- running

    def assignment(self, trial) -> dict[str, str]:
        """The trial's configuration, field → TOML literal."""
        if self.plan.is_search:
            return {name: dimension.suggest(trial, name) for name, dimension in self.plan.space.items()}
        return {axis.field: trial.suggest_categorical(axis.field, list(axis.literals)) for axis in self.plan.grid}

    def run(self, training: Reporter, events: SweepEvents, stop: StopRequest) -> SweepProgress:
        """Run trials until the sweep has none left (or a signal stops it: TrainingInterrupted).

        Raises what training raises, but a diverged trial, which is recorded and skipped.
        """
        state = self.optuna.trial.TrialState
        self.queue_interrupted()
        while not self.done():
            trial = self.study.ask()
            assignment = self.assignment(trial)
            name = trial.user_attrs.get(RUN_ATTR) or (
                f"trial-{trial.number:04d}" if self.plan.is_search else run_name(assignment)
            )
            trial.set_user_attr(RUN_ATTR, name)
            recipe = self.plan.recipe_for(assignment, source="--space" if self.plan.is_search else "--grid")
            run_dir = self.folder.run_dir(name)
            events.trial_started(trial.number, name, assignment, resumed=run_dir.exists())
            try:
                outcome = run_trial(recipe, run_dir, self.folder.lock_path(name), training, stop, self._pruning(trial))
            except TrainingDiverged as diverged:
                trial.set_user_attr(DIVERGED_ATTR, str(diverged))
                self.study.tell(trial, state=state.FAIL)
                events.trial_finished(name, None, f"diverged: {diverged}")
                continue
            except (TrainingInterrupted, InterruptedBeforeTraining, KeyboardInterrupt):
                trial.set_user_attr(INTERRUPTED_ATTR, True)
                self.study.tell(trial, state=state.FAIL)
                raise
            except BaseException:
                self.study.tell(trial, state=state.FAIL)
                raise
            self._tell(trial, outcome)
            events.trial_finished(name, outcome, _note(outcome))
        return self.progress()

    def _pruning(self, trial) -> Callable[[int, dict[str, Any]], bool] | None:
        if not self.plan.is_search:
            return None

        def should_stop(epoch: int, metrics: dict[str, Any]) -> bool:
            trial.report(metrics["test_accuracy"], epoch)
            return trial.should_prune()

        return should_stop

    def _tell(self, trial, outcome: TrialOutcome) -> None:
        state = self.optuna.trial.TrialState
        if outcome.busy:
            trial.set_user_attr(BUSY_ATTR, True)
            self.study.tell(trial, state=state.PRUNED)
        elif outcome.pruned:
            self.study.tell(trial, state=state.PRUNED)
        else:
            self.study.tell(trial, outcome.final_accuracy)


def _grid_sampler(optuna, space: dict[str, list[str]]):
    """Optuna's GridSampler, less its `after_trial`, which stops `study.optimize` once the grid is
    covered: this loop asks and tells itself and checks `is_exhausted` (stopping a study outside
    optimize raises), and a trial queued again after an interruption carries no grid id, which
    that check would look up."""

    class SweepGridSampler(optuna.samplers.GridSampler):
        def after_trial(self, study, trial, state, values) -> None:
            pass

    return SweepGridSampler(space, seed=0)


def _note(outcome: TrialOutcome) -> str:
    if outcome.busy:
        return "another process is running it"
    if outcome.pruned:
        return "pruned"
    how = "already finished" if outcome.already_finished else "resumed and finished" if outcome.resumed else "finished"
    return f"{how}: final test accuracy {100 * outcome.final_accuracy:.2f}%"


def start_sweep(plan: SweepPlan, out: Path, storage_url: str | None) -> tuple[Sweep, bool]:
    """Check the storage, make or check the sweep folder, open the study: everything before the
    first trial. Returns the sweep and whether it resumes one begun before."""
    folder = SweepFolder(out)
    storage = open_storage(storage_url) if storage_url is not None else None  # refused before any folder
    resumed = prepare_folder(folder, plan)
    if storage is None:
        storage = open_storage(folder.default_storage())
    return Sweep(plan, folder, storage), resumed


def worker_threads(workers: int) -> int:
    """Torch threads per worker process: the cores shared out, at least one each."""
    return max(1, (os.cpu_count() or 1) // workers)
