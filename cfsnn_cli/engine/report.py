"""How the engine tells whoever runs it what is happening. The CLI renders these with rich;
tests collect them; the engine itself prints nothing."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class RunStarted:
    """Sent once, when data and model are ready; `start_epoch` and `start_step` are 0-based
    (non-zero when a run resumes)."""

    run_dir: Path
    recipe_name: str
    device: str
    parameters: int
    train_samples: int
    test_samples: int
    epochs: int
    steps_per_epoch: int
    start_epoch: int
    start_step: int
    processes: int = 1  # under torchrun, how many train together (on `device` and its peers)


@dataclass
class StepFinished:
    """Sent after every optimiser step. `loss`, `accuracy` and `samples_per_second` are those of the
    steps between the two latest check-ins, when the engine last read its sums off the device
    (about twice a second; engine/tally.py says why not every step), so they change only then."""

    epoch: int  # 1-based
    step: int  # 1-based within the epoch
    steps: int
    loss: float  # mean loss of the samples since the previous check-in
    accuracy: float  # their accuracy
    lr: float  # of this step
    samples_per_second: float


@dataclass
class EpochFinished:
    """Sent after every epoch, once its checkpoint is saved; `metrics` is its metrics.jsonl line."""

    metrics: dict[str, Any]
    is_best: bool


@dataclass
class Reporter:
    """Does nothing: the default, and the base for renderers that care about only some events."""

    def run_started(self, event: RunStarted) -> None: ...

    def step_finished(self, event: StepFinished) -> None: ...

    def epoch_finished(self, event: EpochFinished) -> None: ...

    def evaluation_progress(self, done: int, total: int) -> None: ...
