"""Running a sweep in one process: ask the study for a trial, claim its run folder, train it (or
read it, or resume it), tell the study how it ended, until the sweep has no trial left. Any
number of processes, on one machine or many, run this loop on one study: the study holds every
rule of a trial's fate (sweep/study.py), the folder its layout and definition (sweep/folder.py),
a trial's run folder its own work (sweep/trial.py)."""

from pathlib import Path

from cfsnn_cli.engine.report import Reporter
from cfsnn_cli.engine.training_ends import StopRequest, TrainingDiverged
from cfsnn_cli.sweep.folder import SweepFolder, prepare_folder
from cfsnn_cli.sweep.plan import SweepPlan
from cfsnn_cli.sweep.study import SweepProgress, SweepStudy, open_storage
from cfsnn_cli.sweep.trial import TrialOutcome, lock_claimed, run_trial


class SweepEvents:
    """What the sweep tells whoever runs it, between the trainings (whose own reporter shows them)."""

    def trial_started(self, number: int, name: str, assignment: dict[str, str], resumed: bool) -> None: ...

    def trial_finished(self, name: str, run_dir: Path, note: str, settled: bool) -> None:
        """`settled`: the configuration needs no more work (finished, pruned or diverged) and
        `run_dir` holds what it did; not so when another process holds its folder."""


class Sweep:
    """One process's part of a sweep: runs trials of its study until none is left."""

    def __init__(self, study: SweepStudy):
        self.study, self.folder, self.plan = study, study.folder, study.plan

    def progress(self) -> SweepProgress:
        return self.study.progress()

    def run(self, training: Reporter, events: SweepEvents, stop: StopRequest) -> SweepProgress:
        """Run trials until the sweep has none left (or a signal stops it: TrainingInterrupted).

        Raises what training raises, but a diverged trial, which is recorded and skipped.
        """
        self.study.queue_stopped()
        while not self.study.done():
            self._run_one(self.study.ask(), training, events, stop)
        return self.study.progress()

    def _run_one(self, trial, training: Reporter, events: SweepEvents, stop: StopRequest) -> None:
        study = self.study
        try:
            assignment = study.assignment(trial)
            name = study.run_name(trial, assignment)
            run_dir = self.folder.run_dir(name)
            with lock_claimed(self.folder.lock_path(name)) as ours:
                if not ours:
                    study.busy(trial, name)
                    events.trial_finished(name, run_dir, "another process is running it", settled=False)
                    return
                study.claim(trial, name)
                recipe = self.plan.recipe_for(assignment, source="space_file" if self.plan.is_search else "grid")
                events.trial_started(trial.number, name, assignment, resumed=run_dir.exists())
                try:
                    outcome = run_trial(recipe, run_dir, training, stop, study.pruning(trial))
                except TrainingDiverged as diverged:
                    study.diverged(trial, str(diverged))
                    events.trial_finished(name, run_dir, f"diverged: {diverged}", settled=True)
                    return
                study.finished(trial, outcome)
                events.trial_finished(name, run_dir, _note(outcome), settled=True)
        except BaseException as error:
            # a signal (TrainingInterrupted, KeyboardInterrupt) or an error: the configuration is
            # run again by the next sweep process to start
            study.stopped(trial, error)
            raise


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
        storage = open_storage(folder.default_storage(), option="out")
    return Sweep(SweepStudy(plan, folder, storage, study_name)), resumed
