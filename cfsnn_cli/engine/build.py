"""Recipe → data, model, objective, optimiser. The one way cfsnn constructs a model: `train`,
`eval` and every later command rebuild through these functions."""

import inspect
import multiprocessing
from typing import Literal

import torch
from torch import nn
from torch.utils.data import DataLoader

from cfsnn_cli.data import DATASETS, DatasetSplit, TimeFirstCollate
from cfsnn_cli.data.registry import INPUT_SHAPES
from cfsnn_cli.engine.batches import WORKERS_STREAM, BatchesDealtToRank, EpochBatches, SeededSamples, derived_seed
from cfsnn_cli.engine.distributed import SINGLE, World
from cfsnn_cli.engine.layer_settings import apply_layer_settings, build_neuron_layer
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.losses import Objective
from cfsnn_cli.models import MODELS
from cfsnn_cli.quant.prepare import quantize_model
from cfsnn_cli.quant.settings import Quantization
from cfsnn_cli.recipe import Recipe


def build_split(
    recipe: Recipe,
    split: Literal["train", "test"],
    data_root: str | None = None,
    timesteps: int | None = None,
    augment: bool | None = None,
) -> DatasetSplit:
    """One split of the recipe's dataset.

    Args:
        recipe: the validated recipe; its `[data]` section picks the kind and options.
        split: "train" or "test".
        data_root: replaces `data.root` (evaluating on another machine); refused for a kind that
            reads no folder. None keeps the recipe's.
        timesteps: T for kinds that frame events, instead of `data.timesteps` (evaluating at
            another T). None keeps the recipe's.
        augment: whether to augment; None means for the training split only.

    Raises:
        CfsnnError: a missing or partial dataset, or a bad option, named under `data.`.
    """
    builder = DATASETS.get(recipe.data.kind)
    options = recipe.data.options()
    if data_root is not None:
        if "root" not in options:
            raise CfsnnError("data_root", f"dataset kind {recipe.data.kind!r} reads no folder")
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
    recipe: Recipe,
    data: DatasetSplit,
    train: bool,
    epoch: int = 0,
    start: int = 0,
    timesteps: int | None = None,
    pin_memory: bool = False,
    world: World = SINGLE,
) -> DataLoader:
    """Batches of [T, B, ...] inputs and [B] labels.

    Training batches are shuffled by (seed, epoch) alone, and each sample's augmentation is seeded
    by its place in the epoch; evaluation batches keep the dataset order.

    Args:
        recipe: gives batch sizes, workers and the seed.
        data: the split to load.
        train: shuffle and use `data.batch_size` (else `data.eval_batch_size`, in order).
        epoch: the 0-based epoch, which fixes the shuffle.
        start: the number of batches of this epoch to skip (a resumed run).
        timesteps: T for static inputs, instead of `data.timesteps`; None keeps the recipe's.
        pin_memory: return batches in page-locked memory, which a CUDA device copies from while it
            computes (`.to(device, non_blocking=True)`); pointless, and a cost, for the CPU.
        world: the processes sharing the run (engine/distributed.py): each takes its share of every
            training batch (`data.batch_size` is the global batch) and every N-th evaluation batch.

    Raises:
        CfsnnError: under torchrun, a training batch too small to give every process a sample.
    """
    batch_size = recipe.data.batch_size if train else recipe.data.eval_batch_size
    batches = EpochBatches(
        len(data.dataset),
        batch_size,
        shuffle=train,
        seed=recipe.seed,
        epoch=epoch,
        start=start,
        seeded=train,
        rank=world.rank if train else 0,
        ranks=world.size if train else 1,
    )
    if train and batches.smallest_share() == 0:
        last = len(data.dataset) % batch_size or batch_size
        raise CfsnnError(
            "data.batch_size",
            f"{batch_size} is the batch of all {world.size} processes together; the last batch of an epoch of "
            f"{len(data.dataset)} samples holds {last}, and every process needs at least one: choose a batch "
            f"size that leaves at least {world.size}",
        )
    sampler = batches if train or world.size == 1 else BatchesDealtToRank(batches, world.rank, world.size)
    workers = recipe.data.workers
    return DataLoader(
        SeededSamples(data.dataset) if train else data.dataset,
        batch_sampler=sampler,
        collate_fn=TimeFirstCollate(timesteps or recipe.data.timesteps, data.samples_are_sequences),
        num_workers=workers,
        pin_memory=pin_memory,
        # Worker processes are forked: the event datasets hold closures that spawn (macOS's
        # default, and Linux's from Python 3.14) cannot pickle.
        multiprocessing_context="fork" if workers and "fork" in multiprocessing.get_all_start_methods() else None,
        generator=torch.Generator().manual_seed(derived_seed(recipe.seed, epoch, WORKERS_STREAM)),
    )


def training_module(recipe: Recipe, model: nn.Module) -> nn.Module:
    """What the training loop calls: `model` itself, or compiled with `torch.compile` when
    `train.compile` is set. Parameters are shared; `model` stays what is saved (a compiled module's
    state dict names every tensor `_orig_mod.…`) and evaluated (evaluation batches have another size,
    which would compile the graph again)."""
    return torch.compile(model) if recipe.train.compile else model


def neuron_factory(recipe: Recipe):
    """A fresh neuron layer per call, each with its own surrogate and parameters."""

    def neuron() -> nn.Module:
        return build_neuron_layer(recipe.neuron, recipe.surrogate, recipe.data.timesteps)

    return neuron


def build_model(
    recipe: Recipe,
    input_shape: tuple[int, ...],
    num_classes: int,
    float_weights: dict[str, torch.Tensor] | None = None,
) -> nn.Module:
    """The recipe's model, with fresh neurons and surrogates from its `[neuron]` and `[surrogate]`,
    and those of the layers its `[layers]` entries match from theirs; with `[quantize]` on, its
    batch norms folded and its layers fake-quantised (`quant/prepare.py`; the steps are calibrated
    by whoever trains it, or loaded with its weights).

    Args:
        recipe: the validated recipe.
        input_shape: one step's input shape without batch and time (`DatasetSplit.input_shape`).
        num_classes: K, the width of the readout.
        float_weights: the state dict of the float model to start from, loaded before it is
            folded and quantised (`train.init_from`); None: fresh weights.

    Returns:
        A module mapping x_seq [T, B, *input_shape] to per-step logits [T, B, K].

    Raises:
        CfsnnError: the model does not fit the input, named under `model.`; a `[layers]` entry
            that matches no layer or contradicts another, named under `layers.`.
    """
    try:
        model = MODELS.get(recipe.model.kind)(
            input_shape=tuple(input_shape),
            num_classes=num_classes,
            neuron=neuron_factory(recipe),
            **recipe.model.options(),
        )
    except CfsnnError as error:
        raise error.within("model") from None
    apply_layer_settings(model, recipe)
    if float_weights is not None:
        model.load_state_dict(float_weights, strict=True)
    if recipe.quantize.enabled:
        quantize_model(model, quantization(recipe))
    return model


def quantization(recipe: Recipe) -> Quantization:
    """The recipe's `[quantize]` as the quant modules take it."""
    section = recipe.quantize
    return Quantization(
        weight_bits=section.weight_bits,
        per_channel=section.scales == "channel",
        input_bits=section.input_bits,
        membrane_bits=section.membrane_bits,
        leak_bits=section.leak_bits,
        leak_rounding=section.leak_rounding,
    )


NOMINAL_CLASSES = 10  # the readout's width where no data is read: no model-level check depends on it


def build_on_meta_device(recipe: Recipe) -> nn.Module:
    """The recipe's model built on the meta device, for the input shape its data options give
    (`INPUT_SHAPES`) and `NOMINAL_CLASSES` classes: every check a model makes while it is built
    runs, with no memory for its weights and no data read (`cfsnn recipes check`).

    Raises:
        CfsnnError: the model does not fit the input, named under `model.`.
    """
    shape = INPUT_SHAPES.get(recipe.data.kind)(**recipe.data.options())
    with torch.device("meta"):
        return build_model(recipe, shape, NOMINAL_CLASSES)


def build_objective(recipe: Recipe) -> Objective:
    """The recipe's `[loss]`: its task loss and λ·L_PN."""
    return Objective(
        recipe.loss.kind, balance=recipe.loss.balance, granularity=recipe.loss.granularity, **recipe.loss.options()
    )


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """The parameter names `model` declares exempt from weight decay through a `no_weight_decay()`
    method (timm's convention: position embeddings and the like); empty for a model without one.

    Raises:
        RuntimeError: a declared name is not one of the model's parameters (a typo there would
            silently decay the parameter it meant).
    """
    declared = getattr(model, "no_weight_decay", None)
    names = set(declared()) if callable(declared) else set()
    unknown = names - {name for name, _ in model.named_parameters()}
    if unknown:
        raise RuntimeError(f"{type(model).__name__}.no_weight_decay() names no parameter: {sorted(unknown)}")
    return names


def gets_weight_decay(name: str, parameter: nn.Parameter, exempt: set[str]) -> bool:
    """Whether weight decay applies: conv and linear weights (more than one dimension), except biases
    and norms by name and what the model lists in `no_weight_decay()` (position embeddings, which
    are 2-d or more but would be pulled towards no position information)."""
    return parameter.dim() > 1 and not name.endswith(".bias") and name not in exempt


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay for conv and linear weights only. Biases, BatchNorm, position embeddings (by the
    model's `no_weight_decay()`), and the method's own parameters (decay β, threshold θ, surrogate
    α — all 0-d or 1-d) are left alone: pulling them towards zero would change the neuron being
    studied or the tokens' positions, not regularise the network."""
    exempt = no_weight_decay_names(model)
    named = list(model.named_parameters())
    decayed = [p for name, p in named if gets_weight_decay(name, p, exempt)]
    kept = [p for name, p in named if not gets_weight_decay(name, p, exempt)]
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": kept, "weight_decay": 0.0}]


def build_optimizer(recipe: Recipe, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW or SGD from `[optim]`, with weight decay on conv and linear weights only (`parameter_groups`)."""
    optim = recipe.optim
    groups = parameter_groups(model, optim.weight_decay)
    if optim.kind == "sgd":
        return torch.optim.SGD(groups, lr=optim.lr, momentum=optim.momentum, nesterov=optim.nesterov)
    return torch.optim.AdamW(groups, lr=optim.lr)


def pick_device(recipe: Recipe, local_rank: int | None = None) -> torch.device:
    """`train.device`: "auto" is CUDA when torch sees one, else the CPU; a missing CUDA device is a CfsnnError.

    Args:
        recipe: the validated recipe.
        local_rank: under torchrun, the process's number on its machine: a CUDA process takes
            `cuda:LOCAL_RANK`. None outside torchrun.
    """
    wanted = recipe.train.device
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise CfsnnError("train.device", f"{wanted} was asked for but torch sees no CUDA device")
    device = torch.device(wanted)
    if device.type == "cuda" and local_rank is not None:
        if device.index is not None:
            raise CfsnnError(
                "train.device",
                f"{wanted} names one GPU, but under torchrun each process takes the GPU of its LOCAL_RANK: "
                "write cuda or auto (and CUDA_VISIBLE_DEVICES to choose the GPUs)",
            )
        if local_rank >= torch.cuda.device_count():
            raise CfsnnError(
                "train.device",
                f"torchrun started a process with LOCAL_RANK {local_rank} but torch sees "
                f"{torch.cuda.device_count()} CUDA device(s): start one process per GPU",
            )
        return torch.device("cuda", local_rank)
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise CfsnnError(
            "train.device", f"{wanted} was asked for but torch sees {torch.cuda.device_count()} CUDA device(s)"
        )
    return device


def autocast(recipe: Recipe, device: torch.device):
    """A bfloat16 autocast context when `train.precision = "bf16"`, a disabled one otherwise."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=recipe.train.precision == "bf16")
