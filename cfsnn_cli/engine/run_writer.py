"""What a training run writes into its folder, and when: the recipe as it starts, after every epoch
the metrics line, TensorBoard's point, the checkpoints and the resumable state, and the state alone
when a stop comes mid-epoch. Process 0 writes; under torchrun the others join the collectives that
gather their RNG states. A run that fails before anything worth keeping was saved leaves no folder."""

import json
import shutil
from pathlib import Path
from typing import Any

from cfsnn_cli.atomic import atomic_write_text
from cfsnn_cli.engine import distributed
from cfsnn_cli.engine.model_file import save_model
from cfsnn_cli.engine.run_folder import (
    BEST_FILE,
    METRICS_FILE,
    MODEL_FILE,
    RECIPE_FILE,
    STATE_FILE,
    TENSORBOARD_FOLDER,
    read_metrics,
    remove_orphaned_temporaries,
)
from cfsnn_cli.engine.tensorboard import EpochBoard
from cfsnn_cli.engine.training_ends import StopRequest, writing_run_folder
from cfsnn_cli.engine.training_setup import TrainingSetup
from cfsnn_cli.engine.training_state import TrainingPosition, save_training_state
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.recipe import Recipe


def _prepare_new_run(run_dir: Path, recipe: Recipe) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise CfsnnError("run_dir", f"{run_dir} is a file, not a folder")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise CfsnnError(
            "run_dir",
            f"{run_dir} already holds files; pick another folder, or continue that run: "
            f"`run_dir={run_dir}, resume=True`",
        )
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write_text(run_dir / RECIPE_FILE, recipe.to_toml())
    except BaseException:
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


class RunWriter:
    """The run folder of one training run, as the run writes it.

    Attributes:
        run_dir: the folder.
        history: the metrics lines of the finished epochs (process 0's; empty in the others).
        saved_any: whether a resumable state has been written (a resumed run starts with one).
    """

    def __init__(self, run_dir: Path, setup: TrainingSetup, stop: StopRequest):
        self.run_dir, self.setup, self.stop = run_dir, setup, stop
        self.saved_any = setup.resumed
        main = setup.world.main
        # a line written just before a crash, for an epoch the saved state does not include, goes
        self.history = [m for m in read_metrics(run_dir) if m["epoch"] <= setup.position.epoch] if main else []
        self.board = EpochBoard()  # writes nothing unless `open_board` opens it

    @classmethod
    def open(cls, run_dir: Path, setup: TrainingSetup, stop: StopRequest) -> "RunWriter":
        """Create a new run's folder with its recipe (process 0), or clear a resumed one of the
        temporary files a killed write left; every process calls it, inside `world.together()`."""
        if setup.world.main and not setup.resumed:
            _prepare_new_run(run_dir, setup.recipe)
        if setup.world.main and setup.resumed:
            remove_orphaned_temporaries(run_dir)
        return cls(run_dir, setup, stop)

    def open_board(self) -> None:
        """Start TensorBoard's event files when the recipe asks for them (process 0)."""
        if self.setup.world.main and self.setup.recipe.train.tensorboard:
            resumed_at = self.setup.position.epoch if self.setup.resumed else None
            self.board = EpochBoard(self.run_dir / TENSORBOARD_FOLDER, self.setup.model, resumed_at=resumed_at)

    @property
    def kept(self) -> Path | None:
        """The folder, where it holds a resumable state; None while it holds none."""
        return self.run_dir if self.saved_any else None

    def save_state(self, position: TrainingPosition) -> None:
        """The resumable state at `position`: a collective (every process's RNG state is gathered)."""
        setup = self.setup
        with self.stop.shielded(), writing_run_folder(self.run_dir):
            other_processes = distributed.rng_states(setup.world, setup.device)
            if setup.world.main:
                path = self.run_dir / STATE_FILE
                save_training_state(path, setup.model, setup.optimizer, setup.recipe, position, other_processes)
        self.saved_any = True

    def save_epoch(
        self, metrics: dict[str, Any], layer_rates: dict[str, float], position: TrainingPosition, is_best: bool
    ) -> None:
        """A finished epoch, metrics first (a crash before the state is written only repeats the
        epoch): its line, TensorBoard's point, the checkpoints, then the state. A collective."""
        setup = self.setup
        self.history.append(metrics)
        if setup.world.main:
            with self.stop.shielded(), writing_run_folder(self.run_dir):
                lines = "".join(json.dumps(m) + "\n" for m in self.history)
                atomic_write_text(self.run_dir / METRICS_FILE, lines)
                self.board.write_epoch(metrics, layer_rates)
                described = (setup.train_data.input_shape, setup.train_data.class_names)
                written = (setup.recipe, position.epoch, position.global_step, metrics, *described)
                if is_best:
                    save_model(self.run_dir / BEST_FILE, setup.model, *written)
                save_model(self.run_dir / MODEL_FILE, setup.model, *written)
        self.save_state(position)

    def close(self) -> None:
        self.board.close()

    def abandon(self) -> None:
        """The run failed: close what is open and, when nothing worth keeping was saved, leave no
        half-written run folder behind."""
        self.board.close()  # before the folder it writes in may go
        if self.setup.world.main and not self.saved_any:
            shutil.rmtree(self.run_dir, ignore_errors=True)
