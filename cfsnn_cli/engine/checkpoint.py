"""Self-describing checkpoints: safetensors files whose metadata carry the resolved recipe.

A run folder holds
  model.safetensors  the latest weights; metadata: format, versions, recipe JSON, epoch, metrics,
                     input shape, classes — enough to rebuild the model with no other file
  best.safetensors   the weights of the best validation epoch, same layout
  state.safetensors  the weights again, optimiser tensors, RNG states, the recipe and the position in
                     training: all --resume reads, in one file (also written mid-epoch on Ctrl-C)
  recipe.toml        the resolved recipe, for people
  metrics.jsonl      one line per epoch
No pickle anywhere: tensors in safetensors, everything else JSON or TOML. Every write is atomic,
and every safetensors file carries a digest that reading verifies (engine/safetensors_file.py).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import cfsnn_cli
from cfsnn_cli.engine.run_folder import BEST_FILE, MODEL_FILE, STATE_FILE, resolve_checkpoint, resumed_run_folder
from cfsnn_cli.engine.safetensors_file import FORMAT, FORMAT_VERSION, read_safetensors, write_safetensors
from cfsnn_cli.errors import CfsnnError
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
    """

    path: Path
    recipe: Recipe
    weights: dict[str, torch.Tensor]
    epoch: int
    metrics: dict[str, Any]
    input_shape: tuple[int, ...]
    class_names: list[str]
    folding: list[dict[str, str]] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        """K, the number of classes."""
        return len(self.class_names)


@dataclass
class TrainingPosition:
    """Where training stands: `epoch` is the 0-based epoch in progress, `next_step` the number of its
    batches already taken (0 at an epoch boundary)."""

    epoch: int
    next_step: int
    global_step: int
    best_accuracy: float = -1.0
    best_epoch: int = 0
    # sums over the batches of the epoch in progress, so a resumed epoch reports the same means
    loss_sum: float = 0.0
    balance_sum: float = 0.0
    correct: int = 0
    samples: int = 0


def save_model(
    path: Path,
    model: nn.Module,
    recipe: Recipe,
    position: "TrainingPosition",
    metrics: dict[str, Any],
    input_shape: tuple[int, ...],
    class_names: list[str],
) -> None:
    """Write `model`'s weights to `path` (atomically), with the metadata that rebuilds the model.

    Args:
        path: the `.safetensors` file to write (model.safetensors or best.safetensors).
        model: the trained model.
        recipe: the resolved recipe, stored as JSON.
        position: where training stands (its epoch and global step are stored).
        metrics: the epoch's metrics, stored as JSON.
        input_shape: one step's input shape without batch and time.
        class_names: the K class names, in label order.
    """
    metadata = _model_metadata(recipe, position.epoch, metrics, input_shape, class_names)
    write_safetensors(path, model.state_dict(), {**metadata, "global_step": str(position.global_step)})


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


def load_model_checkpoint(path: Path, what: str = "--ckpt") -> ModelCheckpoint:
    """Read a model checkpoint written by `save_model`.

    Args:
        path: a `.safetensors` file, or a run folder (its model.safetensors).
        what: the option the path came from, named in error messages.

    Raises:
        CfsnnError: the file is missing, unreadable, not cfsnn's, or of another format version.
    """
    path = resolve_checkpoint(path)
    weights, metadata = read_safetensors(path, what)
    if "position" in metadata:  # a training state, which carries the position `--resume` continues from
        raise CfsnnError(
            what,
            f"{path} is the training state that `cfsnn train --resume {path.parent}` reads; "
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
        return ModelCheckpoint(
            path=path,
            recipe=recipe,
            weights=weights,
            epoch=int(metadata["epoch"]),
            metrics=json.loads(metadata["metrics"]),
            input_shape=tuple(json.loads(metadata["input_shape"])),
            class_names=json.loads(metadata["class_names"]),
            folding=json.loads(metadata.get("folding", "[]")),
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
            "--ckpt", f"{checkpoint.path}: the weights do not fit the model its recipe builds: {details}"
        ) from None


# -- training state ----------------------------------------------------------------------------


@dataclass
class TrainingState:
    """Everything `--resume` needs, read from one file so that weights, optimiser and position
    can never come from different moments."""

    path: Path
    recipe: Recipe
    tensors: dict[str, torch.Tensor]
    position: TrainingPosition
    optimizer: dict[str, Any]


def save_training_state(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    recipe: Recipe,
    position: TrainingPosition,
    other_processes: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write all that `--resume` needs to one file, atomically: weights, optimiser state, RNG
    states (CPU and every CUDA device), the recipe and `position`; under torchrun also the other
    processes' RNG states (`other_processes`, from `distributed.rng_states`)."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {f"model.{name}": tensor for name, tensor in model.state_dict().items()}
    tensors |= other_processes or {}
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for index, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = rng
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    metadata = {
        "recipe": recipe.to_json(),
        "position": json.dumps(position.__dict__),
        "optimizer": json.dumps({"param_groups": state["param_groups"], "scalars": scalars}),
    }
    write_safetensors(path, tensors, metadata)


def read_training_state(path: Path) -> TrainingState:
    """Read a file written by `save_training_state`; a CfsnnError naming `--resume` if it is not one."""
    tensors, metadata = read_safetensors(path, "--resume")
    try:
        if metadata.get("format") != FORMAT or "rng.torch" not in tensors:
            raise KeyError("format")
        recipe = recipe_from_json(metadata["recipe"], f"{path} (stored recipe)")
        position = TrainingPosition(**json.loads(metadata["position"]))
        optimizer = json.loads(metadata["optimizer"])
    except (KeyError, ValueError, TypeError) as error:
        if isinstance(error, CfsnnError):
            raise
        raise CfsnnError("--resume", f"{path} is not a complete cfsnn training state ({error})") from None
    return TrainingState(path, recipe, tensors, position, optimizer)


def resume_recipe(run_dir: Path) -> Recipe:
    """The recipe of the run in `run_dir`, read from its state file's header alone."""
    run_dir = resumed_run_folder(run_dir)
    if not run_dir.is_dir():
        raise CfsnnError("--resume", f"{run_dir} is not a run folder")
    path = run_dir / STATE_FILE
    _, metadata = read_safetensors(path, "--resume", tensors=False)
    if "recipe" not in metadata:
        raise CfsnnError("--resume", f"{path} is not a complete cfsnn training state (no recipe)")
    return recipe_from_json(metadata["recipe"], f"{path} (stored recipe)")


def saved_position(run_dir: Path) -> TrainingPosition | None:
    """Where the run in `run_dir` stands by its state file's header alone (its `epoch` is the number
    of finished epochs); None when it has no state file yet."""
    path = resumed_run_folder(run_dir) / STATE_FILE
    if not path.is_file():
        return None
    _, metadata = read_safetensors(path, "--resume", tensors=False)
    try:
        return TrainingPosition(**json.loads(metadata["position"]))
    except (KeyError, ValueError, TypeError) as error:
        raise CfsnnError("--resume", f"{path} is not a complete cfsnn training state ({error})") from None


def restore_training_state(
    state: TrainingState, model: nn.Module, optimizer: torch.optim.Optimizer
) -> TrainingPosition:
    """Load the state's weights and optimiser state and restore the RNG states.

    Returns:
        The position to continue training from.

    Raises:
        CfsnnError: the weights or optimiser state do not fit (the recipe builds another model).
    """
    weights = {name[len("model.") :]: tensor for name, tensor in state.tensors.items() if name.startswith("model.")}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        raise CfsnnError(
            "--resume",
            f"{state.path}: the weights do not fit the model its recipe builds: {' '.join(str(error).split())}",
        ) from None
    saved: dict[int, dict[str, Any]] = {}
    for name, tensor in state.tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            saved.setdefault(int(index), {})[key] = tensor
    for index, entries in state.optimizer["scalars"].items():
        saved.setdefault(int(index), {}).update(entries)
    try:
        optimizer.load_state_dict({"state": saved, "param_groups": state.optimizer["param_groups"]})
    except (ValueError, KeyError) as error:
        raise CfsnnError("--resume", f"{state.path}: the optimiser state does not fit the model ({error})") from None
    torch.set_rng_state(state.tensors["rng.torch"])
    cuda_states = [
        state.tensors[f"rng.cuda.{i}"] for i in range(torch.cuda.device_count()) if f"rng.cuda.{i}" in state.tensors
    ]
    if cuda_states:
        torch.cuda.set_rng_state_all(cuda_states)
    return state.position
