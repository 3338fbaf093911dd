"""The sweep's study on Optuna, and every rule of a trial's fate.

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

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.extras import require_extra
from cfsnn_cli.sweep.folder import SweepFolder
from cfsnn_cli.sweep.plan import SweepPlan, run_name
from cfsnn_cli.sweep.trial import TrialOutcome, lock_is_free

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


def open_storage(url: str, option: str = "storage_url"):
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


@dataclass
class SweepProgress:
    """How far the sweep is: finished runs out of all it will run."""

    finished: int
    total: int


def _grid_sampler(optuna, space: dict[str, list[str]]):
    """Optuna's GridSampler, less its `after_trial`, which stops `study.optimize` once the grid is
    covered: the sweep asks and tells itself and checks `is_exhausted` (stopping a study outside
    optimize raises), and a trial queued again after an interruption carries no grid id, which
    that check would look up."""

    class SweepGridSampler(optuna.samplers.GridSampler):
        def after_trial(self, study, trial, state, values) -> None:
            pass

    return SweepGridSampler(space, seed=0)


class SweepStudy:
    """The study one process opens (or joins), and every rule of a trial's fate (the module's)."""

    def __init__(self, plan: SweepPlan, folder: SweepFolder, storage, study_name: str):
        self.optuna = optuna = import_optuna()
        self.plan, self.folder = plan, folder
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
        self._told: set[int] = set()

    # -- where the sweep stands

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

    # -- one trial

    def ask(self):
        return self.study.ask()

    def assignment(self, trial) -> dict[str, str]:
        """The trial's configuration, field → TOML literal."""
        if self.plan.is_search:
            return {name: dimension.suggest(trial, name) for name, dimension in self.plan.space.items()}
        return {axis.field: trial.suggest_categorical(axis.field, list(axis.literals)) for axis in self.plan.grid}

    def run_name(self, trial, assignment: dict[str, str]) -> str:
        """The trial's run folder name: the one it was queued under, else made from its configuration."""
        queued = trial.user_attrs.get(RUN_ATTR)
        return queued or (f"trial-{trial.number:04d}" if self.plan.is_search else run_name(assignment))

    def claim(self, trial, name: str) -> None:
        """The trial holds its folder's lock: its run name is written now (see the module's docstring)."""
        trial.set_user_attr(RUN_ATTR, name)

    def pruning(self, trial) -> Callable[[int, dict[str, Any]], bool] | None:
        """For a search, what each finished epoch asks: report its accuracy, stop if pruned."""
        if not self.plan.is_search:
            return None

        def should_stop(epoch: int, metrics: dict[str, Any]) -> bool:
            trial.report(metrics["test_accuracy"], epoch)
            return trial.should_prune()

        return should_stop

    def _tell(self, trial, **how) -> None:
        self.study.tell(trial, **how)
        self._told.add(trial.number)

    def busy(self, trial, name: str) -> None:
        """Another live process holds the folder: no result, and never a second training."""
        trial.set_user_attr(BUSY_ATTR, name)
        self._tell(trial, state=self.optuna.trial.TrialState.PRUNED)

    def diverged(self, trial, message: str) -> None:
        """The loss became NaN: a result of a kind, never run again."""
        trial.set_user_attr(DIVERGED_ATTR, message)
        self._tell(trial, state=self.optuna.trial.TrialState.FAIL)

    def finished(self, trial, outcome: TrialOutcome) -> None:
        if outcome.pruned:
            self._tell(trial, state=self.optuna.trial.TrialState.PRUNED)
        else:
            self._tell(trial, values=outcome.final_accuracy)

    def stopped(self, trial, error: BaseException) -> None:
        """A signal or an error ended the trial before it was told anything: FAIL, so that the next
        process to start runs the configuration again."""
        if trial.number in self._told:
            return
        trial.set_user_attr(ERROR_ATTR, (str(error) or type(error).__name__).splitlines()[0])
        self._tell(trial, state=self.optuna.trial.TrialState.FAIL)
