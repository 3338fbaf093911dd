"""The training program, top to bottom: prepare (engine/training_setup.py) → for each epoch: run
its steps, evaluate, record → save (engine/run_writer.py). A StopRequest (set by the CLI's signal
handlers) ends it after the current step with a resumable checkpoint; how else a run ends is
engine/training_ends.py."""

import contextlib
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from cfsnn_cli.engine import distributed
from cfsnn_cli.engine.build import pick_device, training_module
from cfsnn_cli.engine.distributed import World
from cfsnn_cli.engine.evaluate import Evaluation, evaluate
from cfsnn_cli.engine.final_profile import profile_totals
from cfsnn_cli.engine.report import EpochFinished, Reporter, StepFinished
from cfsnn_cli.engine.run_writer import RunWriter
from cfsnn_cli.engine.schedule import learning_rate
from cfsnn_cli.engine.tally import Reading, StepTally
from cfsnn_cli.engine.training_ends import (
    STOPPED_WITH_THE_OTHERS,
    InterruptedBeforeTraining,
    StopRequest,
    TrainingDiverged,
    TrainingInterrupted,
)
from cfsnn_cli.engine.training_setup import TrainingSetup, prepare_training
from cfsnn_cli.engine.training_state import TrainingPosition
from cfsnn_cli.neurons import observe
from cfsnn_cli.recipe import Recipe


@dataclass
class TrainResult:
    """A finished run: its folder, the last epoch's metrics and the best test accuracy (a fraction)."""

    run_dir: Path
    final: dict[str, Any]
    best_epoch: int
    best_accuracy: float


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
    # everything that can refuse the user's input happens before the run folder exists, and an
    # error in any process raises in every one (no collective may run inside `together`)
    with world.together():
        setup = prepare_training(recipe, run_dir, world, device, resume, data_root)
    if world.any(stop.reason is not None):  # a signal during setup: stop before anything is written
        raise InterruptedBeforeTraining(stop.reason or STOPPED_WITH_THE_OTHERS)
    run_dir = Path(world.share_text(str(run_dir)))  # process 0's, should each have named one after the clock
    with world.together():
        writer = RunWriter.open(run_dir, setup, stop)
    # what the steps call: DDP under torchrun (its constructor is a collective), compiled if asked;
    # `setup.model` stays what is saved and evaluated
    step_model = training_module(recipe, distributed.parallel(setup.model, world, device))
    reporter.run_started(setup.started(run_dir))
    position = setup.position
    try:
        writer.open_board()  # here: the folder goes if it fails
        for epoch in range(position.epoch, recipe.train.epochs):
            started, samples_before = time.perf_counter(), position.samples
            position, lr = run_epoch(setup, step_model, epoch, position, writer, stop, reporter)
            evaluation = evaluate(
                setup.model,
                setup.test_loader,
                setup.objective.task,
                device,
                setup.precision,
                setup.test_data.class_names,
                reporter,
                world,
            )
            seconds = time.perf_counter() - started
            metrics = epoch_metrics(
                epoch, position, evaluation, lr, seconds, samples_before, setup.objective.needs_observations
            )
            if epoch + 1 == recipe.train.epochs:  # the trained model's cost, beside its accuracy
                metrics |= profile_totals(setup.model, setup.test_loader, world, device)
            is_best = evaluation.top1 > position.best_accuracy
            position = finished_epoch(epoch, position, evaluation.top1)
            writer.save_epoch(metrics, evaluation.layer_firing_rates, position, is_best)
            reporter.epoch_finished(EpochFinished(metrics, is_best))
            if world.any(stop.reason is not None) and epoch + 1 < recipe.train.epochs:
                raise TrainingInterrupted(run_dir, position, stop.reason or STOPPED_WITH_THE_OTHERS)
    except BaseException:
        writer.abandon()
        raise
    writer.close()
    return TrainResult(run_dir, writer.history[-1], position.best_epoch, position.best_accuracy)


def run_epoch(
    setup: TrainingSetup,
    step_model,
    epoch: int,
    position: TrainingPosition,
    writer: RunWriter,
    stop: StopRequest,
    reporter: Reporter,
) -> tuple[TrainingPosition, float]:
    """The optimiser steps of one epoch (of what is left of it, when resumed), checked in with the
    device about twice a second (engine/tally.py).

    Returns:
        The position after its last step (with the epoch's sums) and the last step's learning rate.

    Raises:
        TrainingInterrupted: a stop was asked for; the resumable state is saved first.
        TrainingDiverged: the loss became NaN or infinite.
    """
    recipe, world, optimizer, objective = setup.recipe, setup.world, setup.optimizer, setup.objective
    steps = setup.steps_per_epoch
    loader = setup.train_loader(epoch, position.next_step)
    step_model.train()
    tally = StepTally(position, setup.device, carries=world.main)  # process 0 carries a resumed epoch's sums

    def check_in() -> Reading:
        """Read the sums off the device (and agree with the other processes); a non-finite loss
        stops training here, before anything is saved from the weights it produced."""
        reading = tally.check_in(world, stop.reason is not None)
        if reading.diverged is not None:
            bad_step, bad_loss = reading.diverged
            raise TrainingDiverged(epoch + 1, bad_step, bad_loss, writer.kept)
        return reading

    lr = optimizer.param_groups[0]["lr"]
    for step, (x_seq, labels) in enumerate(loader, start=position.next_step + 1):
        lr = learning_rate(recipe.schedule, recipe.optim.lr, position.global_step, steps, recipe.train.epochs)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x_seq, labels = x_seq.to(setup.device, non_blocking=True), labels.to(setup.device, non_blocking=True)
        recording = observe() if objective.needs_observations else contextlib.nullcontext()
        with setup.precision, recording as seen:
            logits_seq = step_model(x_seq)
        parts = objective(logits_seq.float(), labels, seen)
        loss = parts.total
        if world.launched:
            # DDP averages the processes' gradients: weighing each process's mean loss by its
            # share of the batch makes that average the gradient of the whole batch's mean
            loss = loss * (labels.numel() * world.size / setup.batch_at(step))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.train.grad_clip:
            torch.nn.utils.clip_grad_norm_(setup.model.parameters(), recipe.train.grad_clip)
        optimizer.step()

        hits = (logits_seq.detach().mean(0).argmax(1) == labels).sum()
        tally.add(step, parts.total, parts.balance, hits, labels.numel())
        position = replace(position, next_step=step, global_step=position.global_step + 1)
        checked = tally.due() or step == steps
        if checked:
            position = check_in().into(position)
        reading = tally.last
        reporter.step_finished(
            StepFinished(epoch + 1, step, steps, reading.loss, reading.accuracy, lr, reading.samples_per_second)
        )
        # one process stops at once; processes stop together at a check-in
        stopping = (checked and reading.stop) if world.launched else stop.reason is not None
        if stopping and step < steps:
            if not checked:
                position = check_in().into(position)  # this step's sums
            writer.save_state(position)  # model.safetensors keeps the last finished epoch
            raise TrainingInterrupted(writer.run_dir, position, stop.reason or STOPPED_WITH_THE_OTHERS)
    return position, lr


def epoch_metrics(
    epoch: int,
    position: TrainingPosition,
    evaluation: Evaluation,
    lr: float,
    seconds: float,
    samples_before: int,
    balanced: bool,
) -> dict[str, Any]:
    """The metrics.jsonl line of a finished 0-based `epoch`, from the position after its last step
    (the epoch's training sums), its test evaluation and its time; `balanced`: λ·L_PN is on."""
    return {
        "epoch": epoch + 1,
        "train_loss": position.loss_sum / position.samples,
        "train_accuracy": position.correct / position.samples,
        "balance": position.balance_sum / position.samples if balanced else None,
        "test_loss": evaluation.loss,
        "test_accuracy": evaluation.top1,
        "test_top5": evaluation.top5,
        "test_firing_rate": _json_number(evaluation.firing_rate),
        "layer_firing_rates": {name: _json_number(rate) for name, rate in evaluation.layer_firing_rates.items()},
        "lr": lr,
        "seconds": seconds,
        "samples_per_second": (position.samples - samples_before) / seconds,
    }


def finished_epoch(epoch: int, position: TrainingPosition, test_accuracy: float) -> TrainingPosition:
    """The position once 0-based `epoch` is over: the next epoch from its start, the best kept."""
    is_best = test_accuracy > position.best_accuracy
    return TrainingPosition(
        epoch=epoch + 1,
        next_step=0,
        global_step=position.global_step,
        best_accuracy=max(test_accuracy, position.best_accuracy),
        best_epoch=epoch + 1 if is_best else position.best_epoch,
    )


def _json_number(value: float) -> float | None:
    """NaN (a layer no test batch reached) as null: JSON has no NaN, and other readers refuse it."""
    return None if math.isnan(value) else value
