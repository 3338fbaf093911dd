"""Model files: the safetensors checkpoints a run writes (model.safetensors, best.safetensors) and
the inference bundles `cfsnn export` writes, whose metadata carry the resolved recipe and all else
needed to rebuild the model with no other file. Written atomically, sealed with a digest
(engine/safetensors_file.py); no pickle.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import cfsnn_cli
from cfsnn_cli.engine.run_folder import BEST_FILE, MODEL_FILE, resolve_checkpoint
from cfsnn_cli.engine.safetensors_file import FORMAT, FORMAT_VERSION, read_safetensors, write_safetensors
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.quant.bundle import PROGRAM_KEY, bundle_tensors, read_bundle
from cfsnn_cli.quant.program import IntegerProgram
from cfsnn_cli.recipe import Recipe, recipe_from_json


@dataclass
class ModelCheckpoint:
    """A model checkpoint as read: the weights and all that is needed to rebuild their model.

    Attributes:
        path: the file read.
        recipe: the resolved recipe the model was trained with.
        weights: the state dict.
        epoch: the number of epochs trained when it was written.
        metrics: that epoch's line of metrics.jsonl.
        input_shape: one step's input shape without batch and time.
        class_names: the K class names, in label order.
        folding: the batch norms folded into the layer before them (an inference bundle written
            by `cfsnn export`); empty for a training checkpoint.
        integer_program: the integer program of an integer bundle (`cfsnn export --format
            integer`), whose `weights` are the fake-quantised model rebuilt from it; else None.
    """

    path: Path
    recipe: Recipe
    weights: dict[str, torch.Tensor]
    epoch: int
    metrics: dict[str, Any]
    input_shape: tuple[int, ...]
    class_names: list[str]
    folding: list[dict[str, str]] = field(default_factory=list)
    integer_program: IntegerProgram | None = None

    @property
    def num_classes(self) -> int:
        """K, the number of classes."""
        return len(self.class_names)


def save_model(
    path: Path,
    model: nn.Module,
    recipe: Recipe,
    epoch: int,
    global_step: int,
    metrics: dict[str, Any],
    input_shape: tuple[int, ...],
    class_names: list[str],
) -> None:
    """Write `model`'s weights to `path` (atomically), with the metadata that rebuilds the model.

    Args:
        path: the `.safetensors` file to write (model.safetensors or best.safetensors).
        model: the trained model.
        recipe: the resolved recipe, stored as JSON.
        epoch: the number of epochs trained.
        global_step: the number of optimiser steps taken.
        metrics: the epoch's metrics, stored as JSON.
        input_shape: one step's input shape without batch and time.
        class_names: the K class names, in label order.
    """
    metadata = _model_metadata(recipe, epoch, metrics, input_shape, class_names)
    write_safetensors(path, model.state_dict(), {**metadata, "global_step": str(global_step)})


def _model_metadata(
    recipe: Recipe, epoch: int, metrics: dict[str, Any], input_shape: tuple[int, ...], class_names: list[str]
) -> dict[str, str]:
    """What `load_model_checkpoint` needs to rebuild a model, and the versions that wrote it."""
    return {
        "cfsnn_version": cfsnn_cli.__version__,
        "torch_version": torch.__version__,
        "recipe": recipe.to_json(),
        "epoch": str(epoch),
        "metrics": json.dumps(metrics),
        "input_shape": json.dumps(list(input_shape)),
        "class_names": json.dumps(list(class_names)),
    }


def save_inference_bundle(
    path: Path, model: nn.Module, checkpoint: ModelCheckpoint, folding: list[dict[str, str]], exported: dict[str, Any]
) -> None:
    """Write a folded model as a checkpoint that `load_model` reads (atomically): the source's
    metadata, the folding it needs to rebuild the model, and what was exported from where.

    Args:
        path: the `.safetensors` file to write.
        model: the model with its batch norms folded (`folding.fold_batch_norm`).
        checkpoint: the checkpoint it came from (recipe, epoch, metrics, shapes, classes).
        folding: what `fold_batch_norm` folded.
        exported: a note on the export (source file, versions), stored as JSON.
    """
    metadata = _model_metadata(
        checkpoint.recipe, checkpoint.epoch, checkpoint.metrics, checkpoint.input_shape, checkpoint.class_names
    )
    metadata |= {"folding": json.dumps(folding), "exported": json.dumps(exported)}
    write_safetensors(path, model.state_dict(), metadata)


def save_integer_bundle(
    path: Path, program: IntegerProgram, model: nn.Module, checkpoint: ModelCheckpoint, exported: dict[str, Any]
) -> None:
    """Write an integer bundle (atomically): the integer program (int8 weights, int32 biases and
    neuron constants, its operations and steps in the metadata), what rebuilds the fake-quantised
    model beside it (`quant/bundle.py`), and the source's metadata, recipe included.

    Args:
        path: the `.safetensors` file to write.
        program: the model's integer program.
        model: the fake-quantised model it was written from.
        checkpoint: the checkpoint the model came from.
        exported: a note on the export (source file), stored as JSON.
    """
    metadata = _model_metadata(
        checkpoint.recipe, checkpoint.epoch, checkpoint.metrics, checkpoint.input_shape, checkpoint.class_names
    )
    metadata |= {PROGRAM_KEY: json.dumps(program.header()), "exported": json.dumps(exported)}
    write_safetensors(path, bundle_tensors(program, model), metadata)


def load_model_checkpoint(path: Path, what: str = "ckpt") -> ModelCheckpoint:
    """Read a model checkpoint written by `save_model`.

    Args:
        path: a `.safetensors` file, or a run folder (its model.safetensors).
        what: the option the path came from, named in error messages.

    Raises:
        CfsnnError: the file is missing, unreadable, not cfsnn's, or of another format version.
    """
    path = resolve_checkpoint(path)
    weights, metadata = read_safetensors(path, what)
    if "position" in metadata:  # a training state, which carries the position a resumed run continues from
        raise CfsnnError(
            what,
            f"{path} is the training state a resumed run reads (`run_dir={path.parent}, resume=True`); "
            f"evaluate {path.parent / MODEL_FILE} (last epoch) or {path.parent / BEST_FILE} (best epoch)",
        )
    if metadata.get("format") != FORMAT:
        raise CfsnnError(what, f"{path} was not written by cfsnn (its metadata carry no recipe)")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CfsnnError(
            what, f"{path} has checkpoint format {metadata.get('format_version')}, this cfsnn reads {FORMAT_VERSION}"
        )
    try:
        recipe = recipe_from_json(metadata["recipe"], f"{path} (stored recipe)")
        program = None
        if PROGRAM_KEY in metadata:
            program, weights = read_bundle(weights, metadata[PROGRAM_KEY])
        return ModelCheckpoint(
            path=path,
            recipe=recipe,
            weights=weights,
            epoch=int(metadata["epoch"]),
            metrics=json.loads(metadata["metrics"]),
            input_shape=tuple(json.loads(metadata["input_shape"])),
            class_names=json.loads(metadata["class_names"]),
            folding=json.loads(metadata.get("folding", "[]")),
            integer_program=program,
        )
    except (KeyError, ValueError) as error:
        if isinstance(error, CfsnnError):
            raise
        raise CfsnnError(what, f"{path} has incomplete cfsnn metadata ({error})") from None


def load_weights(model: nn.Module, checkpoint: ModelCheckpoint) -> None:
    """Load the checkpoint's weights into `model` (strictly); a CfsnnError if they do not fit it."""
    try:
        model.load_state_dict(checkpoint.weights, strict=True)
    except RuntimeError as error:
        details = " ".join(str(error).split())
        raise CfsnnError(
            "ckpt", f"{checkpoint.path}: the weights do not fit the model its recipe builds: {details}"
        ) from None
