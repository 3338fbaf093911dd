"""Running a sweep on Optuna: the study lives in a storage (a SQLite file in the sweep folder, or any
database Optuna takes), so any number of `cfsnn sweep` processes, on one machine or many, share
one sweep; each trial is an ordinary run folder under `trials/`.

How a trial's fate is kept:
- a grid's configurations come from Optuna's GridSampler; a search's from its default sampler,
  pruned on the per-epoch test accuracy by its median pruner;
- a trial holds its folder's lock from before it writes its run name until it is told its end,
  so a RUNNING trial with a run name and a free lock has lost its process (killed, or its machine
  gone): the next sweep process to start tells it FAIL;
- a trial stopped by a signal or an error is told FAIL with the `error`; every FAIL trial but a
  diverged one is queued again, under the same run name, when a sweep process starts, and resumes
  its folder from the last saved step;
- a trial that finds its folder locked by a live process is told PRUNED and marked `busy`, so
  two processes never train one configuration; one that finds its folder finished only reads it.
"""

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfsnn_cli.atomic import atomic_write_text
from cfsnn_cli.engine.report import Reporter
from cfsnn_cli.engine.run_folder import LOCKS_FOLDER, SETUP_LOCK_FILE, SWEEP_DATABASE, SWEEP_FILE, TRIALS_FOLDER
from cfsnn_cli.engine.training_ends import StopRequest, TrainingDiverged
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.extras import require_extra
from cfsnn_cli.sweep.plan import SweepPlan, run_name
from cfsnn_cli.sweep.trial import TrialOutcome, claimed, lock_is_free, run_trial

FORMAT = "cfsnn-sweep/1"
SQLITE_PREFIX = "sqlite:///"  # SQLAlchemy's URL of a database file; the path follows
# a database driver's module → (the cfsnn extra that installs it, or None; its package on PyPI)
DRIVER_PACKAGES = {
    "psycopg": ("postgres", "psycopg[binary]"),
    "psycopg2": (None, "psycopg2-binary"),
    "MySQLdb": (None, "mysqlclient"),
    "pymysql": (None, "PyMySQL"),
}
# what a trial carries in Optuna's user attributes
RUN_ATTR = "run"  # its run folder's name under trials/
ERROR_ATTR = "error"  # what stopped it: a signal or an error (it is run again)
BUSY_ATTR = "busy"  # the run name another process held (not RUN_ATTR: see queue_stopped); not a result
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

    @property
    def setup_lock(self) -> Path:
        """Held while a process checks or writes the definition."""
        return self.root / SETUP_LOCK_FILE

    def default_storage(self) -> str:
        return f"{SQLITE_PREFIX}{(self.root / SWEEP_DATABASE).resolve()}"


def import_optuna():
    """Optuna, quiet (its INFO line per trial would break the progress display); a CfsnnError with
    the install line when the `sweep` extra is missing."""
    require_extra("optuna", "sweep", "cfsnn sweep")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return optuna


def require_database_driver(url: str, option: str) -> None:
    """Refuse, naming what to install, a database URL whose driver module is missing: Optuna would
    say only "Failed to import DB access module". The driver is SQLAlchemy's for the URL
    (`postgresql://` is psycopg 3 from SQLAlchemy 2.1 on, psycopg2 before)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        dialect = make_url(url).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        return  # not a URL SQLAlchemy knows: Optuna's refusal says so
    try:
        dialect.import_dbapi()
    except ImportError as error:
        module = error.name or dialect.driver
        extra, package = DRIVER_PACKAGES.get(module, (None, module))
        install = f'pip install "cfsnn[{extra}]"' if extra else f"pip install {package}"
        scheme = url.split(":", 1)[0]
        raise CfsnnError(option, f"a {scheme} database needs the driver {module}, not installed: {install}") from None


def open_storage(url: str, option: str = "--storage"):
    """An Optuna storage for `url`; a URL or database Optuna refuses is a CfsnnError naming `option`."""
    optuna = import_optuna()
    require_database_driver(url, option)
    # SQLite lets one writer in at a time; processes sharing the file wait for each other rather than fail
    engine = {"connect_args": {"timeout": 300}} if url.startswith("sqlite") else {}
    for attempt in range(2):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine)
        except Exception as error:  # SQLAlchemy and the drivers raise many kinds; all mean "cannot use this"
            if attempt == 0:
                # two processes meeting a new database both create its tables; the one that loses
                # finds them made a moment later
                time.sleep(1.0)
                continue
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise CfsnnError(option, f"Optuna cannot use {url!r}: {reason}") from None
    raise AssertionError("unreachable")


def prepare_folder(folder: SweepFolder, plan: SweepPlan) -> tuple[str, bool]:
    """Create the sweep folder with its definition, or check that the one there is this sweep's.
    Processes starting together on one folder take turns (a lock file in it), so exactly one
    writes the definition and the others read it. Returns the study's name (as the folder
    records it) and whether the folder existed (the sweep resumes); a refusal leaves nothing
    behind that it made."""
    root = folder.root
    if root.exists() and not root.is_dir():
        raise CfsnnError("--out", f"{root} is a file, not a folder")
    made_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    made_lock = not folder.setup_lock.exists()
    try:
        with claimed(folder.setup_lock, wait=True):
            if folder.definition_file.is_file():
                return _check_definition(folder, plan), True
            if any(entry != folder.setup_lock for entry in root.iterdir()):
                raise CfsnnError(
                    "--out", f"{root} already holds files but no {SWEEP_FILE}; give the sweep an empty folder"
                )
            record = {"format": FORMAT, "study": plan.study_name(), "definition": plan.definition()}
            atomic_write_text(folder.definition_file, json.dumps(record, indent=2, sort_keys=True) + "\n")
            return record["study"], False
    except BaseException:
        if made_lock:
            folder.setup_lock.unlink(missing_ok=True)
        if made_root:
            root.rmdir()
        raise


def _check_definition(folder: SweepFolder, plan: SweepPlan) -> str:
    """The study named in the folder's definition, if that definition is this sweep's."""
    try:
        record = json.loads(folder.definition_file.read_text())
        stored, study = record["definition"], record["study"]
        # a grid's values in any order are the same grid
        stored["grid"] = {field: sorted(values) for field, values in stored.get("grid", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise CfsnnError("--out", f"{folder.definition_file} is not a readable sweep definition ({error})") from None
    definition = json.loads(json.dumps(plan.definition()))  # as JSON reads it back: tuples are lists
    differing = [key for key in definition if stored.get(key) != definition[key]]
    if differing:
        verb = "differ" if len(differing) > 1 else "differs"
        raise CfsnnError(
            "--out",
            f"{folder.root} holds another sweep (its {' and '.join(differing)} {verb}); "
            "rerun its own command to resume it, or give this sweep another --out",
        )
    return study


class SweepEvents:
    """What the sweep tells whoever runs it, between the trainings (whose own reporter shows them)."""

    def trial_started(self, number: int, name: str, assignment: dict[str, str], resumed: bool) -> None: ...

    def trial_finished(self, name: str, run_dir: Path, note: str, settled: bool) -> None:
        """`settled`: the configuration needs no more work (finished, pruned or diverged) and
        `run_dir` holds what it did; not so when another process holds its folder."""


@dataclass
class SweepProgress:
    """How far the sweep is: finished runs out of all it will run."""

    finished: int
    total: int


class Sweep:
    """One process's part of a sweep: opens (or joins) the study and runs trials until none is left."""

    def __init__(self, plan: SweepPlan, folder: SweepFolder, storage, study_name: str):
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
            study_name=study_name,
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

    def progress(self, trials: list | None = None) -> SweepProgress:
        """From `trials` (the study's, read once by the caller) or read now."""
        trials = self._trials() if trials is None else trials
        settled = {t.user_attrs.get(RUN_ATTR) for t in trials if self._settled(t)}
        total = self.plan.trials if self.plan.is_search else len(self.plan.points())
        return SweepProgress(len(settled - {None}), total)

    def done(self) -> bool:
        trials = self._trials()
        if any(t.state == self.optuna.trial.TrialState.WAITING for t in trials):
            return False
        progress = self.progress(trials)
        if progress.finished >= progress.total:
            return True
        # every configuration has had its trial, some still running in other processes (or ended
        # by an error): this process has nothing left to start
        return not self.plan.is_search and self.sampler.is_exhausted(self.study)

    def queue_stopped(self) -> None:
        """Tell FAIL the RUNNING trials whose process is gone, and queue again, under their run
        names, the configurations a signal, an error or a lost process stopped. Two processes
        starting together may both queue one: the second copy finds the folder busy or finished,
        and costs nothing."""
        state = self.optuna.trial.TrialState
        by_run: dict[str, list] = {}
        for trial in self._trials():
            # a busy trial names its run apart: it never held the lock, so a RUNNING one with a
            # run name and a free lock is always a lost one
            name = trial.user_attrs.get(RUN_ATTR) or trial.user_attrs.get(BUSY_ATTR)
            if name is not None:
                by_run.setdefault(name, []).append(trial)
        for name, trials in sorted(by_run.items()):
            running = [t for t in trials if t.state == state.RUNNING]
            if running and not lock_is_free(self.folder.lock_path(name)):
                continue  # a live process is on it
            for lost in running:
                self.study.tell(lost.number, state=state.FAIL, skip_if_finished=True)
            if any(self._settled(t) or t.state == state.WAITING for t in trials):
                continue
            latest = max(trials, key=lambda t: t.number)
            self.study.enqueue_trial(dict(latest.params), user_attrs={RUN_ATTR: name})

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
        self.queue_stopped()
        while not self.done():
            self._run_one(self.study.ask(), training, events, stop)
        return self.progress()

    def _run_one(self, trial, training: Reporter, events: SweepEvents, stop: StopRequest) -> None:
        state = self.optuna.trial.TrialState
        told = False

        def tell(**how) -> None:
            nonlocal told
            self.study.tell(trial, **how)
            told = True

        try:
            assignment = self.assignment(trial)
            name = trial.user_attrs.get(RUN_ATTR) or (
                f"trial-{trial.number:04d}" if self.plan.is_search else run_name(assignment)
            )
            with claimed(self.folder.lock_path(name)) as ours:
                if not ours:
                    trial.set_user_attr(BUSY_ATTR, name)
                    tell(state=state.PRUNED)
                    events.trial_finished(
                        name, self.folder.run_dir(name), "another process is running it", settled=False
                    )
                    return
                trial.set_user_attr(RUN_ATTR, name)  # under the lock: see the module's docstring
                recipe = self.plan.recipe_for(assignment, source="--space" if self.plan.is_search else "--grid")
                run_dir = self.folder.run_dir(name)
                events.trial_started(trial.number, name, assignment, resumed=run_dir.exists())
                try:
                    outcome = run_trial(recipe, run_dir, training, stop, self._pruning(trial))
                except TrainingDiverged as diverged:
                    trial.set_user_attr(DIVERGED_ATTR, str(diverged))
                    tell(state=state.FAIL)
                    events.trial_finished(name, run_dir, f"diverged: {diverged}", settled=True)
                    return
                if outcome.pruned:
                    tell(state=state.PRUNED)
                else:
                    tell(values=outcome.final_accuracy)
                events.trial_finished(name, run_dir, _note(outcome), settled=True)
        except BaseException as error:
            # a signal (TrainingInterrupted, KeyboardInterrupt) or an error: the configuration is
            # run again by the next sweep process to start
            if not told:
                trial.set_user_attr(ERROR_ATTR, (str(error) or type(error).__name__).splitlines()[0])
                tell(state=state.FAIL)
            raise

    def _pruning(self, trial) -> Callable[[int, dict[str, Any]], bool] | None:
        if not self.plan.is_search:
            return None

        def should_stop(epoch: int, metrics: dict[str, Any]) -> bool:
            trial.report(metrics["test_accuracy"], epoch)
            return trial.should_prune()

        return should_stop


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
    if outcome.pruned:
        return "pruned"
    how = "already finished" if outcome.already_finished else "resumed and finished" if outcome.resumed else "finished"
    return f"{how}: final test accuracy {100 * outcome.final_accuracy:.2f}%"


def start_sweep(plan: SweepPlan, out: Path, storage_url: str | None) -> tuple[Sweep, bool]:
    """Check the storage, make or check the sweep folder, open the study: everything before the
    first trial. Returns the sweep and whether it resumes one begun before."""
    folder = SweepFolder(out)
    storage = open_storage(storage_url) if storage_url is not None else None  # refused before any folder
    study_name, resumed = prepare_folder(folder, plan)
    if storage is None:
        storage = open_storage(folder.default_storage(), option="--out")
    return Sweep(plan, folder, storage, study_name), resumed


def worker_threads(workers: int) -> int:
    """Torch threads per worker process: the cores this process may run on, shared out, at least one each."""
    return max(1, len(os.sched_getaffinity(0)) // workers)
