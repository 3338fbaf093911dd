"""Recipe → data, model, objective, optimiser. The one way cfsnn constructs a model: `train`,
`eval` and every later command rebuild through these functions."""

import inspect
import multiprocessing
from typing import Literal

import torch
from torch import nn
from torch.utils.data import DataLoader

from cfsnn_cli.data import DATASETS, DatasetSplit, TimeFirstCollate
from cfsnn_cli.engine.batches import WORKERS, EpochBatches, SeededSamples, derived_seed
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.losses import Objective
from cfsnn_cli.models import MODELS
from cfsnn_cli.neurons import build_neuron
from cfsnn_cli.recipe import Recipe
from cfsnn_cli.surrogates import build_surrogate


def build_split(
    recipe: Recipe,
    split: Literal["train", "test"],
    data_root: str | None = None,
    timesteps: int | None = None,
    augment: bool | None = None,
) -> DatasetSplit:
    """`data_root` and `timesteps` override the recipe's (eval on another machine, or at another T).
    Augmentation is on for the training split unless `augment` says otherwise (evaluating it)."""
    builder = DATASETS.get(recipe.data.kind)
    options = recipe.data.options()
    if data_root is not None:
        if "root" not in options:
            raise CfsnnError("--data-root", f"dataset kind {recipe.data.kind!r} reads no folder")
        options["root"] = data_root
    parameters = inspect.signature(builder).parameters
    if "timesteps" in parameters:  # event data is framed into T bins
        options["timesteps"] = timesteps or recipe.data.timesteps
    if "augment" in parameters:
        options["augment"] = split == "train" if augment is None else augment
    try:
        return builder(split=split, **options)
    except CfsnnError as error:
        raise error.within("data") from None


def build_loader(
    recipe: Recipe, data: DatasetSplit, train: bool, epoch: int = 0, start: int = 0, timesteps: int | None = None
) -> DataLoader:
    """Training batches are shuffled by (seed, epoch); evaluation batches keep the dataset order."""
    batch_size = recipe.data.batch_size if train else recipe.data.eval_batch_size
    batches = EpochBatches(
        len(data.dataset), batch_size, shuffle=train, seed=recipe.seed, epoch=epoch, start=start, seeded=train
    )
    workers = recipe.data.workers
    return DataLoader(
        SeededSamples(data.dataset) if train else data.dataset,
        batch_sampler=batches,
        collate_fn=TimeFirstCollate(timesteps or recipe.data.timesteps, data.samples_are_sequences),
        num_workers=workers,
        # Worker processes are forked: the event datasets hold closures that spawn (macOS's
        # default, and Linux's from Python 3.14) cannot pickle.
        multiprocessing_context="fork" if workers and "fork" in multiprocessing.get_all_start_methods() else None,
        generator=torch.Generator().manual_seed(derived_seed(recipe.seed, epoch, WORKERS)),
    )


def neuron_factory(recipe: Recipe):
    """A fresh neuron layer per call, each with its own surrogate and parameters."""

    def neuron() -> nn.Module:
        surrogate = build_surrogate(
            recipe.surrogate.kind, timesteps=recipe.data.timesteps, **recipe.surrogate.options()
        )
        return build_neuron(recipe.neuron.kind, surrogate=surrogate, **recipe.neuron.options())

    return neuron


def build_model(recipe: Recipe, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    try:
        return MODELS.get(recipe.model.kind)(
            input_shape=tuple(input_shape),
            num_classes=num_classes,
            neuron=neuron_factory(recipe),
            **recipe.model.options(),
        )
    except CfsnnError as error:
        raise error.within("model") from None


def build_objective(recipe: Recipe) -> Objective:
    return Objective(
        recipe.loss.kind, balance=recipe.loss.balance, granularity=recipe.loss.granularity, **recipe.loss.options()
    )


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay for conv and linear weights only. Biases, BatchNorm, and the method's own
    parameters (decay β, threshold θ, surrogate α — all 0-d or 1-d) are left alone: pulling them
    towards zero would change the neuron being studied, not regularise the network."""
    decayed = [p for p in model.parameters() if p.dim() > 1]
    kept = [p for p in model.parameters() if p.dim() <= 1]
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": kept, "weight_decay": 0.0}]


def build_optimizer(recipe: Recipe, model: nn.Module) -> torch.optim.Optimizer:
    optim = recipe.optim
    groups = parameter_groups(model, optim.weight_decay)
    if optim.kind == "sgd":
        return torch.optim.SGD(groups, lr=optim.lr, momentum=optim.momentum, nesterov=optim.nesterov)
    return torch.optim.AdamW(groups, lr=optim.lr)


def pick_device(recipe: Recipe) -> torch.device:
    wanted = recipe.train.device
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise CfsnnError("train.device", f"{wanted} was asked for but torch sees no CUDA device")
    device = torch.device(wanted)
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise CfsnnError(
            "train.device", f"{wanted} was asked for but torch sees {torch.cuda.device_count()} CUDA device(s)"
        )
    return device


def autocast(recipe: Recipe, device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=recipe.train.precision == "bf16")
