"""Every shipped recipe trains: a few steps on tiny data in its dataset's real format, with the
recipe's own model, neuron, surrogate and loss.

Nothing here is pinned to numbers recorded on another machine: CPUs pick different convolution and
matmul kernels, one spike flips and a spiking network's trajectory diverges. What holds anywhere is
checked instead: finite losses, a loss that falls while the recipe's own optimiser fits one batch,
a gradient for every parameter, and a run that repeats itself bit for bit on the same machine.
"""

import math
from pathlib import Path
from unittest import mock

import pytest
import torch
from safetensors.torch import load_file

from cfsnn_cli.engine.build import build_loader, build_model, build_objective, build_optimizer, build_split
from cfsnn_cli.engine.run_folder import read_metrics
from cfsnn_cli.engine.train import train
from cfsnn_cli.engine.training_ends import StopRequest, TrainingInterrupted
from cfsnn_cli.neurons import observe
from cfsnn_cli.recipe import load_recipe, shipped_recipes
from tests.data.event_fixtures import write_cifar10_dvs, write_dvs_gesture, write_ncaltech101, write_nmnist, write_shd
from tests.data.fixtures import write_cifar10, write_image_folder
from tests.engine.helpers import StopAfter

STEPS = 3  # training steps of the end-to-end run
SMALL_MODELS = ("mlp", "convnet")  # a few steps of anything deeper take seconds: those are `slow`
FIT_STEPS = 6  # optimiser steps on one batch

# data kind → (writes a tiny copy under a root, the root option to set)
WRITERS = {
    "nmnist": write_nmnist,
    "dvs-gesture": write_dvs_gesture,
    "cifar10-dvs": write_cifar10_dvs,
    "ncaltech101": write_ncaltech101,
    "shd": write_shd,
    "cifar10": write_cifar10,
    "imagefolder": lambda root: write_image_folder(root, per_class=3, size=(72, 72)),
}
TINY_DATA = [
    "data.batch_size=2",
    "data.eval_batch_size=2",
    "data.workers=0",
    "train.epochs=1",
    "train.device='cpu'",
    "train.precision='fp32'",
]


def tiny_overrides(recipe, root: Path) -> list[str]:
    overrides = list(TINY_DATA)
    options = recipe.data.options()
    if "root" in options:
        overrides.append(f"data.root='{root}'")
    if "cache_dir" in options:
        overrides.append(f"data.cache_dir='{root / 'cache'}'")
    if "image_size" in options:
        overrides.append("data.image_size=64")
    if recipe.schedule.warmup_epochs:  # must be shorter than the one epoch of a tiny run
        overrides.append("schedule.warmup_epochs=0")
    if recipe.data.kind == "shd":
        overrides.append("data.timesteps=20")  # frames of SHD's fixed 10 ms bins, 200 ms in all
    elif recipe.data.kind == "sequential-digits":
        pass  # T is the sequence's length, fixed by the order
    else:
        overrides.append(f"data.timesteps={min(recipe.data.timesteps, 4)}")  # the recipe's parts, fewer steps
    return overrides


def tiny_recipe(name: str, root: Path, *overrides: str):
    """The shipped recipe `name`, pointed at a tiny copy of its dataset written under `root`."""
    recipe = load_recipe(name)
    kind = recipe.data.kind
    if kind in WRITERS or kind == "cifar100":
        (WRITERS.get(kind) or write_cifar100)(root)
    return load_recipe(name, [*tiny_overrides(recipe, root), *overrides])


def first_steps(recipe, run_dir: Path) -> tuple[float, dict[str, torch.Tensor]]:
    """`cfsnn train`'s loop stopped after STEPS steps (or its epoch, if shorter): the mean loss of
    those steps as the engine summed them, and the training state it wrote (weights, optimiser, RNG).
    A non-finite loss on any step would have raised TrainingDiverged."""
    stop = StopRequest()
    with mock.patch("torchvision.datasets.cifar.check_integrity", return_value=True):  # fake CIFAR files
        try:
            train(recipe, run_dir, reporter=StopAfter(stop, STEPS), stop=stop)
            [metrics] = read_metrics(run_dir)
            loss = metrics["train_loss"]
        except TrainingInterrupted as stopped:
            loss = stopped.position.loss_sum / stopped.position.samples
    return loss, load_file(run_dir / "state.safetensors")


def shipped_recipe_params() -> list:
    return [
        pytest.param(name, marks=() if load_recipe(name).model.kind in SMALL_MODELS else pytest.mark.slow)
        for name in shipped_recipes()
    ]


def write_cifar100(root: Path) -> Path:
    import pickle

    import numpy as np

    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, count in (("train", 8), ("test", 4)):
        batch = {
            "filenames": [f"{i}.png" for i in range(count)],
            "batch_label": name,
            "fine_labels": [int(v) for v in rng.integers(0, 100, count)],
            "coarse_labels": [int(v) for v in rng.integers(0, 20, count)],
            "data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
        }
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=2)
    with open(folder / "meta", "wb") as handle:
        pickle.dump(
            {
                "fine_label_names": [f"class{i}" for i in range(100)],
                "coarse_label_names": [f"group{i}" for i in range(20)],
            },
            handle,
            protocol=2,
        )
    return root


@pytest.mark.parametrize("name", shipped_recipe_params())
def test_shipped_recipe_trains_and_repeats_itself_exactly(name, tmp_path):
    recipe = tiny_recipe(name, tmp_path)
    loss, state = first_steps(recipe, tmp_path / "run")
    assert math.isfinite(loss), loss
    again_loss, again_state = first_steps(recipe, tmp_path / "again")  # the same seed, bit for bit
    assert again_loss == loss and state.keys() == again_state.keys()
    assert all(torch.equal(state[key], again_state[key]) for key in state)


@pytest.mark.parametrize("name", shipped_recipe_params())
def test_shipped_recipe_fits_a_batch_with_gradients_for_every_parameter(name, tmp_path):
    """The recipe's optimiser at a tenth of its learning rate (its full rate is tuned for batches of
    hundreds, and bounces on a batch of two) brings one batch's loss below its start."""
    recipe = tiny_recipe(name, tmp_path, f"optim.lr={load_recipe(name).optim.lr / 10}")
    torch.manual_seed(recipe.seed)
    with mock.patch("torchvision.datasets.cifar.check_integrity", return_value=True):
        data = build_split(recipe, "train")
    x_seq, labels = next(iter(build_loader(recipe, data, train=True)))
    model = build_model(recipe, data.input_shape, data.num_classes)
    objective, optimizer = build_objective(recipe), build_optimizer(recipe, model)
    model.train()
    losses = []
    for step in range(FIT_STEPS):
        with observe() as seen:
            loss = objective(model(x_seq), labels, seen).total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step == 0:
            # a layer fed only silent neurons rightly gets a zero gradient, so reach is what is checked
            for parameter_name, parameter in model.named_parameters():
                assert parameter.grad is not None, f"no gradient reaches {parameter_name}"
                assert torch.isfinite(parameter.grad).all(), f"{parameter_name}: non-finite gradient"
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(loss) for loss in losses), losses
    assert min(losses[1:]) < losses[0], losses
