"""How a training run ends other than by finishing: a stop asked for by a signal, a loss that
diverged, a run folder the system would not write. The CLI turns each into its message and exit
code (cli/outcomes.py)."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

from cfsnn_cli.engine.run_folder import STATE_FILE
from cfsnn_cli.engine.training_state import TrainingPosition

# the reason a process gives when it stops because another one was asked to (under torchrun)
STOPPED_WITH_THE_OTHERS = "stopped with the other processes"


class StopRequest:
    """Asks the loop to stop after the step in progress (a signal handler sets it). While
    `saving` is true a second signal must not abort: it would cut a checkpoint in half."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.saving = False

    def request(self, reason: str) -> None:
        """Stop after the current step; `reason` ("interrupted", …) ends up in the message."""
        self.reason = reason

    @contextlib.contextmanager
    def shielded(self):
        """Mark the block as writing a checkpoint, during which a second signal must wait."""
        self.saving = True
        try:
            yield
        finally:
            self.saving = False


class TrainingInterrupted(Exception):
    """A stop request ended training after a step; a resumable state is saved in `run_dir`."""

    def __init__(self, run_dir: Path, position: TrainingPosition, reason: str):
        self.run_dir, self.position, self.reason = run_dir, position, reason
        super().__init__(
            f"{reason}: stopped at epoch {position.epoch + 1}, step {position.next_step}; "
            f"resumable checkpoint in {run_dir}"
        )


class InterruptedBeforeTraining(Exception):
    """A stop request came while data and model were being prepared: nothing was written."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"{reason}: stopped while preparing the data and model; nothing was written")


class TrainingDiverged(Exception):
    """The loss became NaN or infinite; the last finished epoch's checkpoint (if any) is kept."""

    def __init__(self, epoch: int, step: int, value: float, kept: Path | None):
        kept_note = (
            f"the last good checkpoint is kept in {kept}" if kept else "no epoch had finished, so nothing was kept"
        )
        super().__init__(f"the loss became {value} at epoch {epoch}, step {step}; {kept_note}")


class RunFolderWriteFailed(Exception):
    """The system refused a write to the run folder (a full disk, a lost mount). Every file is written
    atomically, so what the folder held before stays whole: with `resumable`, its state file, from
    which the run continues once the cause is gone."""

    def __init__(self, run_dir: Path, error: OSError, resumable: bool):
        self.run_dir, self.error, self.resumable = run_dir, error, resumable
        kept = (
            f"the last saved state in {run_dir} is whole" if resumable else "no epoch had finished, so nothing was kept"
        )
        super().__init__(f"{error.filename}: {error.strerror}; {kept}")


@contextlib.contextmanager
def writing_run_folder(run_dir: Path) -> Iterator[None]:
    """Turn the system's refusal of a write to `run_dir` into RunFolderWriteFailed."""
    try:
        yield
    except OSError as error:
        raise RunFolderWriteFailed(run_dir, error, resumable=(run_dir / STATE_FILE).is_file()) from error
