"""The training program, top to bottom: set up → run epochs → save. A StopRequest (set by the
CLI's signal handlers) ends it after the current step with a resumable checkpoint."""

import contextlib
import json
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from cfsnn_cli.atomic import atomic_write_text
from cfsnn_cli.engine import distributed
from cfsnn_cli.engine.batches import PROCESSES, derived_seed
from cfsnn_cli.engine.build import (
    autocast,
    build_loader,
    build_model,
    build_objective,
    build_optimizer,
    build_split,
    pick_device,
    training_module,
)
from cfsnn_cli.engine.checkpoint import (
    TrainingPosition,
    read_training_state,
    restore_training_state,
    save_model,
    save_training_state,
)
from cfsnn_cli.engine.distributed import World
from cfsnn_cli.engine.evaluate import evaluate
from cfsnn_cli.engine.report import EpochFinished, Reporter, RunStarted, StepFinished
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
from cfsnn_cli.engine.schedule import learning_rate
from cfsnn_cli.engine.tally import Reading, StepTally
from cfsnn_cli.engine.tensorboard import EpochBoard, check_tensorboard
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.neurons import observe
from cfsnn_cli.recipe import Recipe

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
def _writing_run_folder(run_dir: Path) -> Iterator[None]:
    """Turn the system's refusal of a write to `run_dir` into RunFolderWriteFailed."""
    try:
        yield
    except OSError as error:
        raise RunFolderWriteFailed(run_dir, error, resumable=(run_dir / STATE_FILE).is_file()) from error


@dataclass
class TrainResult:
    """A finished run: its folder, the last epoch's metrics and the best test accuracy (a fraction)."""

    run_dir: Path
    final: dict[str, Any]
    best_epoch: int
    best_accuracy: float


def _prepare_new_run(run_dir: Path, recipe: Recipe) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise CfsnnError("--out", f"{run_dir} is a file, not a folder")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise CfsnnError(
            "--out", f"{run_dir} already holds files; pick another folder, or continue that run with --resume {run_dir}"
        )
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write_text(run_dir / RECIPE_FILE, recipe.to_toml())
    except BaseException:
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def train(
    recipe: Recipe,
    run_dir: Path,
    *,
    resume: bool = False,
    data_root: str | None = None,
    reporter: Reporter | None = None,
    stop: StopRequest | None = None,
) -> TrainResult:
    """Train a model from `recipe`, evaluating the test split after every epoch, into `run_dir`.

    Everything that can refuse the input (data, model, device, a resumed state) is checked
    before the run folder is created; a run that fails before its first checkpoint leaves no
    folder behind.

    Under torchrun (RANK, WORLD_SIZE and LOCAL_RANK set) every process calls this: they train one
    model with DistributedDataParallel, `data.batch_size` being the batch of all of them together;
    process 0 alone writes the run folder and reports (engine/distributed.py says how and why).

    Args:
        recipe: the validated recipe.
        run_dir: the run folder: new or empty, or the run to continue with `resume` (under
            torchrun, process 0's).
        resume: continue the run in `run_dir` from its state.safetensors (same order, same
            augmentation draws, bit-identical on the same machine with as many processes).
        data_root: replaces `data.root`; None keeps the recipe's.
        reporter: told about the run, every step and every epoch (in process 0 only); None
            reports nothing.
        stop: checked after every step (under torchrun, at the check-ins where the processes
            agree); when set, training saves a resumable state and raises `TrainingInterrupted`.
            None means training is not stopped this way.

    Returns:
        The run folder, the last epoch's metrics, and the best epoch and test accuracy.

    Raises:
        CfsnnError: a mistake in the input (data, device, run folder, resumed state).
        TrainingInterrupted: `stop` was set during training.
        InterruptedBeforeTraining: `stop` was set while preparing.
        TrainingDiverged: the loss became NaN or infinite.
        PeerFailed: under torchrun, another process failed while preparing.
    """
    world = distributed.from_environment()
    device = pick_device(recipe, world.local_rank if world.launched else None)
    with distributed.joined(world, device):
        return _train(
            recipe,
            run_dir,
            world,
            device,
            resume=resume,
            data_root=data_root,
            reporter=(reporter if world.main else None) or Reporter(),
            stop=stop or StopRequest(),
        )


def _train(
    recipe: Recipe,
    run_dir: Path,
    world: World,
    device: torch.device,
    *,
    resume: bool,
    data_root: str | None,
    reporter: Reporter,
    stop: StopRequest,
) -> TrainResult:
    # -- set up: everything that can refuse the user's input happens before the run folder exists,
    # and an error in any process raises in every one (no collective may run inside `together`)
    with world.together():
        check_tensorboard(recipe)
        torch.manual_seed(recipe.seed)  # the same initial weights in every process
        train_data = build_split(recipe, "train", data_root)
        test_data = build_split(recipe, "test", data_root)
        model = build_model(recipe, train_data.input_shape, train_data.num_classes).to(device)
        if recipe.train.channels_last:
            # NHWC conv weights make convolutions write NHWC activations (TimeFolded's [T·B, C, H, W]
            # follows them), the layout GPU tensor cores read fastest under bf16. Checkpoints store
            # the same numbers in the plain layout (safetensors_file.write_safetensors makes them contiguous).
            model = model.to(memory_format=torch.channels_last)
        if world.rank > 0:  # its own dropout draws; process 0 keeps the one-process stream
            torch.manual_seed(derived_seed(recipe.seed, world.rank, PROCESSES))
        objective = build_objective(recipe).to(device)
        optimizer = build_optimizer(recipe, model)
        steps_per_epoch = len(build_loader(recipe, train_data, train=True, world=world))
        pin_memory = device.type == "cuda"  # page-locked batches copy to the GPU while it computes
        test_loader = build_loader(recipe, test_data, train=False, pin_memory=pin_memory, world=world)
        precision = autocast(recipe, device)
        position = TrainingPosition(epoch=0, next_step=0, global_step=0)
        if resume:
            state = read_training_state(run_dir / STATE_FILE)
            position = restore_training_state(state, model, optimizer)
            fresh_seed = derived_seed(recipe.seed, world.rank, PROCESSES, position.global_step)
            distributed.restore_rng_state(state.tensors, world, device, fresh_seed)
            if position.epoch >= recipe.train.epochs:
                raise CfsnnError("--resume", f"{run_dir} already finished its {recipe.train.epochs} epochs")
    if world.any(stop.reason is not None):  # a signal during setup: stop before anything is written
        raise InterruptedBeforeTraining(stop.reason or STOPPED_WITH_THE_OTHERS)
    run_dir = Path(world.share_text(str(run_dir)))  # process 0's, should each have named one after the clock
    with world.together():
        if world.main and not resume:
            _prepare_new_run(run_dir, recipe)
        if world.main and resume:  # the temporary file of a write a killed process left half done
            remove_orphaned_temporaries(run_dir)
    # what the steps call: DDP under torchrun (its constructor is a collective), compiled if asked;
    # `model` stays what is saved and evaluated
    step_model = training_module(recipe, distributed.parallel(model, world, device))
    saved_any = resume
    # a line written just before a crash, for an epoch the saved state does not include, goes
    history = [m for m in read_metrics(run_dir) if m["epoch"] <= position.epoch] if world.main else []

    def save_state(at: TrainingPosition) -> None:
        nonlocal saved_any
        with stop.shielded(), _writing_run_folder(run_dir):
            other_processes = distributed.rng_states(world, device)  # a collective: every process comes
            if world.main:
                save_training_state(run_dir / STATE_FILE, model, optimizer, recipe, at, other_processes)
        saved_any = True

    def check_in(tally: StepTally, epoch: int) -> Reading:
        """Read the sums off the device (and agree with the other processes); a non-finite loss
        stops training here, before anything is saved from the weights it produced."""
        reading = tally.check_in(world, stop.reason is not None)
        if reading.diverged is not None:
            bad_step, bad_loss = reading.diverged
            raise TrainingDiverged(epoch + 1, bad_step, bad_loss, run_dir if saved_any else None)
        return reading

    def batch_at(step: int) -> int:
        """The size of the whole (all processes') batch of a step: the last one of an epoch is shorter."""
        return min(recipe.data.batch_size, len(train_data.dataset) - (step - 1) * recipe.data.batch_size)

    reporter.run_started(
        RunStarted(
            run_dir=run_dir,
            recipe_name=recipe.name,
            device=str(device),
            parameters=sum(p.numel() for p in model.parameters()),
            train_samples=len(train_data.dataset),
            test_samples=len(test_data.dataset),
            epochs=recipe.train.epochs,
            steps_per_epoch=steps_per_epoch,
            start_epoch=position.epoch,
            start_step=position.next_step,
            processes=world.size,
        )
    )
    board = EpochBoard()  # writes nothing unless opened below
    try:
        if world.main and recipe.train.tensorboard:  # opened here: the folder goes if it fails
            board = EpochBoard(run_dir / TENSORBOARD_FOLDER, model, resumed_at=position.epoch if resume else None)
        # -- run epochs
        for epoch in range(position.epoch, recipe.train.epochs):
            started = time.perf_counter()
            epoch_samples_before = position.samples
            loader = build_loader(
                recipe,
                train_data,
                train=True,
                epoch=epoch,
                start=position.next_step,
                pin_memory=pin_memory,
                world=world,
            )
            step_model.train()
            tally = StepTally(position, device, carries=world.main)  # process 0 carries a resumed epoch's sums
            for step, (x_seq, labels) in enumerate(loader, start=position.next_step + 1):
                lr = learning_rate(
                    recipe.schedule, recipe.optim.lr, position.global_step, steps_per_epoch, recipe.train.epochs
                )
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x_seq, labels = x_seq.to(device, non_blocking=True), labels.to(device, non_blocking=True)
                recording = observe() if objective.needs_observations else contextlib.nullcontext()
                with precision, recording as seen:
                    logits_seq = step_model(x_seq)
                parts = objective(logits_seq.float(), labels, seen)
                loss = parts.total
                if world.launched:
                    # DDP averages the processes' gradients: weighing each process's mean loss by its
                    # share of the batch makes that average the gradient of the whole batch's mean
                    loss = loss * (labels.numel() * world.size / batch_at(step))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if recipe.train.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.train.grad_clip)
                optimizer.step()

                hits = (logits_seq.detach().mean(0).argmax(1) == labels).sum()
                tally.add(step, parts.total, parts.balance, hits, labels.numel())
                position = replace(position, next_step=step, global_step=position.global_step + 1)
                checked = tally.due() or step == steps_per_epoch
                if checked:
                    position = check_in(tally, epoch).into(position)
                reading = tally.last
                reporter.step_finished(
                    StepFinished(
                        epoch + 1,
                        step,
                        steps_per_epoch,
                        reading.loss,
                        reading.accuracy,
                        lr,
                        reading.samples_per_second,
                    )
                )
                # one process stops at once; processes stop together at a check-in
                stopping = (checked and reading.stop) if world.launched else stop.reason is not None
                if stopping and step < steps_per_epoch:
                    if not checked:
                        position = check_in(tally, epoch).into(position)  # this step's sums
                    save_state(position)  # model.safetensors keeps the last finished epoch
                    raise TrainingInterrupted(run_dir, position, stop.reason or STOPPED_WITH_THE_OTHERS)

            evaluation = evaluate(
                model, test_loader, objective.task, device, precision, test_data.class_names, reporter, world
            )
            seconds = time.perf_counter() - started
            metrics = {
                "epoch": epoch + 1,
                "train_loss": position.loss_sum / position.samples,
                "train_accuracy": position.correct / position.samples,
                "balance": position.balance_sum / position.samples if objective.needs_observations else None,
                "test_loss": evaluation.loss,
                "test_accuracy": evaluation.top1,
                "test_top5": evaluation.top5,
                "test_firing_rate": _json_number(evaluation.firing_rate),
                "layer_firing_rates": {
                    name: _json_number(rate) for name, rate in evaluation.layer_firing_rates.items()
                },
                "lr": lr,
                "seconds": seconds,
                "samples_per_second": (position.samples - epoch_samples_before) / seconds,
            }
            is_best = evaluation.top1 > position.best_accuracy
            position = TrainingPosition(
                epoch=epoch + 1,
                next_step=0,
                global_step=position.global_step,
                best_accuracy=max(evaluation.top1, position.best_accuracy),
                best_epoch=epoch + 1 if is_best else position.best_epoch,
            )
            # -- save, metrics first: a crash before the state is written only repeats this epoch
            history.append(metrics)
            if world.main:
                with stop.shielded(), _writing_run_folder(run_dir):
                    atomic_write_text(run_dir / METRICS_FILE, "".join(json.dumps(m) + "\n" for m in history))
                    board.write_epoch(metrics, evaluation.layer_firing_rates)
                    saved = (train_data.input_shape, train_data.class_names)
                    if is_best:
                        save_model(run_dir / BEST_FILE, model, recipe, position, metrics, *saved)
                    save_model(run_dir / MODEL_FILE, model, recipe, position, metrics, *saved)
            save_state(position)
            reporter.epoch_finished(EpochFinished(metrics, is_best))
            if world.any(stop.reason is not None) and epoch + 1 < recipe.train.epochs:
                raise TrainingInterrupted(run_dir, position, stop.reason or STOPPED_WITH_THE_OTHERS)
    except BaseException:
        board.close()  # before the folder it writes in may go
        if world.main and not saved_any:  # nothing worth keeping: leave no half-written run folder behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    board.close()
    return TrainResult(run_dir, history[-1], position.best_epoch, position.best_accuracy)


def _json_number(value: float) -> float | None:
    """NaN (a layer no test batch reached) as null: JSON has no NaN, and other readers refuse it."""
    return None if math.isnan(value) else value
