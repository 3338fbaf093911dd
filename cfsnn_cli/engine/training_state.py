"""The training state: everything `--resume` reads, in one safetensors file (state.safetensors),
so that weights, optimiser and position can never come from different moments: the weights again,
the optimiser's tensors and scalars, the RNG states, the recipe and the position in training.
Written atomically and sealed with a digest (engine/safetensors_file.py); no pickle.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cfsnn_cli.engine.run_folder import STATE_FILE, resumed_run_folder
from cfsnn_cli.engine.safetensors_file import FORMAT, read_safetensors, write_safetensors
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.recipe import Recipe, recipe_from_json


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
    """Read a file written by `save_training_state`; a CfsnnError naming `resume` if it is not one."""
    tensors, metadata = read_safetensors(path, "resume")
    try:
        if metadata.get("format") != FORMAT or "rng.torch" not in tensors:
            raise KeyError("format")
        recipe = recipe_from_json(metadata["recipe"], f"{path} (stored recipe)")
        position = TrainingPosition(**json.loads(metadata["position"]))
        optimizer = json.loads(metadata["optimizer"])
    except (KeyError, ValueError, TypeError) as error:
        if isinstance(error, CfsnnError):
            raise
        raise CfsnnError("resume", f"{path} is not a complete cfsnn training state ({error})") from None
    return TrainingState(path, recipe, tensors, position, optimizer)


def resume_recipe(run_dir: Path) -> Recipe:
    """The recipe of the run in `run_dir`, read from its state file's header alone."""
    run_dir = resumed_run_folder(run_dir)
    if not run_dir.is_dir():
        raise CfsnnError("resume", f"{run_dir} is not a run folder")
    path = run_dir / STATE_FILE
    _, metadata = read_safetensors(path, "resume", tensors=False)
    if "recipe" not in metadata:
        raise CfsnnError("resume", f"{path} is not a complete cfsnn training state (no recipe)")
    return recipe_from_json(metadata["recipe"], f"{path} (stored recipe)")


def saved_position(run_dir: Path) -> TrainingPosition | None:
    """Where the run in `run_dir` stands by its state file's header alone (its `epoch` is the number
    of finished epochs); None when it has no state file yet."""
    path = resumed_run_folder(run_dir) / STATE_FILE
    if not path.is_file():
        return None
    _, metadata = read_safetensors(path, "resume", tensors=False)
    try:
        return TrainingPosition(**json.loads(metadata["position"]))
    except (KeyError, ValueError, TypeError) as error:
        raise CfsnnError("resume", f"{path} is not a complete cfsnn training state ({error})") from None


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
            "resume",
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
        raise CfsnnError("resume", f"{state.path}: the optimiser state does not fit the model ({error})") from None
    torch.set_rng_state(state.tensors["rng.torch"])
    cuda_states = [
        state.tensors[f"rng.cuda.{i}"] for i in range(torch.cuda.device_count()) if f"rng.cuda.{i}" in state.tensors
    ]
    if cuda_states:
        torch.cuda.set_rng_state_all(cuda_states)
    return state.position
