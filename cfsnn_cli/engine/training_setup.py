"""The first phase of a training run: everything built from the recipe (data, model, loss,
optimiser, a resumed state) before the run folder exists, so that whatever can refuse the input
refuses it before anything is written."""

import warnings
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from cfsnn_cli.data import DatasetSplit
from cfsnn_cli.engine import distributed
from cfsnn_cli.engine.batches import PROCESSES_STREAM, derived_seed
from cfsnn_cli.engine.build import (
    autocast,
    build_loader,
    build_objective,
    build_optimizer,
    build_split,
)
from cfsnn_cli.engine.distributed import World
from cfsnn_cli.engine.recompute import recompute_blocks
from cfsnn_cli.engine.report import RunStarted
from cfsnn_cli.engine.run_folder import STATE_FILE
from cfsnn_cli.engine.tensorboard import check_tensorboard
from cfsnn_cli.engine.training_start import starting_model
from cfsnn_cli.engine.training_state import TrainingPosition, read_training_state, restore_training_state
from cfsnn_cli.errors import CfsnnError, CfsnnNotice
from cfsnn_cli.losses import Objective
from cfsnn_cli.recipe import Recipe


@dataclass
class TrainingSetup:
    """What a run trains with, made by `prepare_training`.

    Attributes:
        recipe: the validated recipe.
        world: the processes training together (one, outside torchrun).
        device: where this process computes.
        train_data, test_data: the two splits.
        model: the model, on `device`: what is saved and evaluated.
        objective: the task loss and λ·L_PN.
        optimizer: AdamW or SGD over the model's parameters.
        steps_per_epoch: optimiser steps in an epoch.
        test_loader: the test split's batches.
        precision: the autocast context the forward passes run in.
        position: where training starts (0 for a new run, the saved position when resumed).
        resumed: whether the run continues from its state file.
    """

    recipe: Recipe
    world: World
    device: torch.device
    train_data: DatasetSplit
    test_data: DatasetSplit
    model: nn.Module
    objective: Objective
    optimizer: torch.optim.Optimizer
    steps_per_epoch: int
    test_loader: DataLoader
    precision: AbstractContextManager
    position: TrainingPosition
    resumed: bool

    @property
    def pin_memory(self) -> bool:
        return self.device.type == "cuda"  # page-locked batches copy to the GPU while it computes

    def train_loader(self, epoch: int, start: int) -> DataLoader:
        """The training batches of `epoch` from its `start`-th (a resumed epoch skips those taken)."""
        return build_loader(
            self.recipe,
            self.train_data,
            train=True,
            epoch=epoch,
            start=start,
            pin_memory=self.pin_memory,
            world=self.world,
        )

    def batch_at(self, step: int) -> int:
        """The size of the whole (all processes') batch of a step: the last one of an epoch is shorter."""
        batch = self.recipe.data.batch_size
        return min(batch, len(self.train_data.dataset) - (step - 1) * batch)

    def started(self, run_dir: Path) -> RunStarted:
        """The event that tells the reporter the run is under way."""
        return RunStarted(
            run_dir=run_dir,
            recipe_name=self.recipe.name,
            device=str(self.device),
            parameters=sum(p.numel() for p in self.model.parameters()),
            train_samples=len(self.train_data.dataset),
            test_samples=len(self.test_data.dataset),
            epochs=self.recipe.train.epochs,
            steps_per_epoch=self.steps_per_epoch,
            start_epoch=self.position.epoch,
            start_step=self.position.next_step,
            processes=self.world.size,
        )


def prepare_training(
    recipe: Recipe, run_dir: Path, world: World, device: torch.device, resume: bool, data_root: str | None
) -> TrainingSetup:
    """Build the run's data, model, loss and optimiser, and with `resume` restore its state from
    `run_dir`'s state file (weights, optimiser, RNG, position).

    Raises:
        CfsnnError: a mistake in the input (data, model, device, the state to resume).
    """
    check_tensorboard(recipe)
    torch.manual_seed(recipe.seed)  # the same initial weights in every process
    train_data = build_split(recipe, "train", data_root)
    test_data = build_split(recipe, "test", data_root)
    model = starting_model(recipe, train_data, resume).to(device)
    if recipe.train.channels_last:
        # NHWC conv weights make convolutions write NHWC activations (TimeFolded's [T·B, C, H, W]
        # follows them), the layout GPU tensor cores read fastest under bf16. Checkpoints store
        # the same numbers in the plain layout (safetensors_file.write_safetensors makes them contiguous).
        model = model.to(memory_format=torch.channels_last)
    if recipe.train.recompute_blocks and not recompute_blocks(model):
        warnings.warn(
            f"train.recompute_blocks: model {recipe.model.kind!r} has no blocks to recompute (no sequence of "
            "two or more spiking layers); it trains as without the option",
            CfsnnNotice,
            stacklevel=2,
        )
    if world.rank > 0:  # its own dropout draws; process 0 keeps the one-process stream
        torch.manual_seed(derived_seed(recipe.seed, world.rank, PROCESSES_STREAM))
    optimizer = build_optimizer(recipe, model)
    position = TrainingPosition(epoch=0, next_step=0, global_step=0)
    if resume:
        state = read_training_state(run_dir / STATE_FILE)
        position = restore_training_state(state, model, optimizer)
        fresh_seed = derived_seed(recipe.seed, world.rank, PROCESSES_STREAM, position.global_step)
        distributed.restore_rng_state(state.tensors, world, device, fresh_seed)
        if position.epoch >= recipe.train.epochs:
            raise CfsnnError("resume", f"{run_dir} already finished its {recipe.train.epochs} epochs")
    pin_memory = device.type == "cuda"
    return TrainingSetup(
        recipe=recipe,
        world=world,
        device=device,
        train_data=train_data,
        test_data=test_data,
        model=model,
        objective=build_objective(recipe).to(device),
        optimizer=optimizer,
        steps_per_epoch=len(build_loader(recipe, train_data, train=True, world=world)),
        test_loader=build_loader(recipe, test_data, train=False, pin_memory=pin_memory, world=world),
        precision=autocast(recipe, device),
        position=position,
        resumed=resume,
    )
