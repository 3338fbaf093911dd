"""The one way from a checkpoint to work: `eval`, `profile-spikes` and `export` all call
`open_checkpoint`, which reads the file, rebuilds the model through the recipe stored in it and
puts that recipe on this machine (engine/machine.py); `OpenCheckpoint.batches` then gives the
split's batches inside the guard every pass over data runs in."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from cfsnn_cli.data import DatasetSplit
from cfsnn_cli.data.frames import discarded_if_unfinished
from cfsnn_cli.engine.build import build_loader, build_model, build_split
from cfsnn_cli.engine.machine import DATA_ROOT, ThisMachine, on_this_machine
from cfsnn_cli.engine.model_file import ModelCheckpoint, load_model_checkpoint, load_weights
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.models.folding import apply_folded_structure
from cfsnn_cli.recipe import Recipe


def load_model(path: str | Path, device: torch.device | None = None) -> tuple[ModelCheckpoint, nn.Module]:
    """Read a checkpoint and return it with its model, weights loaded, in eval mode.

    Args:
        path: a `.safetensors` checkpoint or inference bundle (`cfsnn export --format
            safetensors`), or a run folder (its model.safetensors).
        device: where to put the model; None: CUDA when torch sees one, else the CPU (never the
            device the checkpoint was trained on: that was another machine's choice).

    Returns:
        The checkpoint (recipe, class names, input shape, metrics) and the model on `device`.

    Raises:
        CfsnnError: the file is missing, unreadable or not a cfsnn checkpoint, or its weights do
            not fit the model its recipe builds.
    """
    checkpoint = load_model_checkpoint(path)
    model = build_model(checkpoint.recipe, checkpoint.input_shape, checkpoint.num_classes)
    if checkpoint.folding:  # an inference bundle: its batch norms live in the weights before them
        apply_folded_structure(model, checkpoint.folding)
    load_weights(model, checkpoint)
    model.to(device if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    model.eval()
    return checkpoint, model


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (the CPU for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


@dataclass
class OpenCheckpoint:
    """A checkpoint opened for work.

    Attributes:
        checkpoint: the file as read (recipe, weights, classes, shapes, metrics).
        model: its model, weights loaded, in eval mode, on `device`.
        recipe: the checkpoint's recipe on this machine: its data root, cache, downloads, workers
            and device are this machine's (engine/machine.py).
        device: where the model is.
    """

    checkpoint: ModelCheckpoint
    model: nn.Module
    recipe: Recipe
    device: torch.device

    @contextmanager
    def batches(
        self, split: str, timesteps: int | None = None, batch_size: int | None = None
    ) -> Iterator[tuple[Recipe, DatasetSplit, DataLoader]]:
        """(the recipe the pass runs with, the split, its batches), inside the guard of a pass:
        a frame cache the pass starts is removed if it fails, and running out of memory is advice.

        Args:
            split: "test" or "train" (read without augmentation).
            timesteps: T instead of the recipe's `data.timesteps`; None keeps it.
            batch_size: samples per batch instead of the recipe's `data.eval_batch_size`.

        Raises:
            CfsnnError: the data is missing or has other classes than the checkpoint, or a batch
                does not fit in memory.
        """
        recipe = self.recipe
        if batch_size is not None:
            data_section = recipe.data.model_copy(update={"eval_batch_size": batch_size})
            recipe = recipe.model_copy(update={"data": data_section})
        data = self._split(recipe, split, timesteps)
        loader = build_loader(recipe, data, train=False, timesteps=timesteps)
        with (
            discarded_if_unfinished(data),
            memory_errors_as_advice(recipe.data.eval_batch_size, timesteps or recipe.data.timesteps),
        ):
            yield recipe, data, loader

    def _split(self, recipe: Recipe, split: str, timesteps: int | None) -> DatasetSplit:
        """The split, checked to have the checkpoint's classes. Its data folder is this machine's,
        so a problem with it is said as one with the data root it was given."""
        try:
            data = build_split(recipe, split, timesteps=timesteps, augment=False)
        except CfsnnError as error:
            if error.field != "data.root":
                raise
            raise CfsnnError(DATA_ROOT, error.problem, error.source) from None
        if data.num_classes != self.checkpoint.num_classes:
            raise CfsnnError(
                DATA_ROOT,
                f"the data has {data.num_classes} classes but the checkpoint was trained on "
                f"{self.checkpoint.num_classes}",
            )
        return data


def open_checkpoint(
    path: str | Path, machine: ThisMachine | None = None, device: torch.device | None = None
) -> OpenCheckpoint:
    """Read a checkpoint, rebuild its model (`load_model`) and put its recipe on this machine.

    Args:
        path: a `.safetensors` checkpoint or inference bundle, or a run folder.
        machine: this machine's settings; None: `ThisMachine.from_options()`.
        device: where to put the model; None: CUDA when torch sees one, else the CPU.
    """
    checkpoint, model = load_model(path, device)
    recipe = on_this_machine(checkpoint.recipe, machine or ThisMachine.from_options())
    return OpenCheckpoint(checkpoint, model, recipe, model_device(model))


def report_header(checkpoint: ModelCheckpoint, split: str) -> dict[str, Any]:
    """What every `--json` report of a pass over a checkpoint starts with: where it came from."""
    return {
        "checkpoint": str(checkpoint.path),
        "recipe": checkpoint.recipe.name,
        "epoch": checkpoint.epoch,
        "split": split,
    }


@contextmanager
def memory_errors_as_advice(batch_size: int, timesteps: int) -> Iterator[None]:
    """Running out of memory is one CfsnnError with what to change, not an internal error."""
    try:
        yield
    except (MemoryError, torch.OutOfMemoryError, RuntimeError) as error:
        if not isinstance(error, (MemoryError, torch.OutOfMemoryError)) and not _is_out_of_memory(error):
            raise
        smaller = max(1, batch_size // 4)
        raise CfsnnError(
            "batch_size",
            f"out of memory evaluating batches of {batch_size} samples at T = {timesteps}; "
            f"try `batch_size={smaller}` (or fewer `timesteps`)",
        ) from None


def _is_out_of_memory(error: RuntimeError) -> bool:
    # the CPU allocator raises a plain RuntimeError; CUDA raises torch.OutOfMemoryError
    text = str(error)
    return "not enough memory" in text or "DefaultCPUAllocator: can't allocate" in text
