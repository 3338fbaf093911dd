"""`train.recompute_blocks`: the same training step, bit for bit, holding less."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cfsnn_cli.engine.build import build_model, build_objective
from cfsnn_cli.engine.recompute import recompute_blocks
from cfsnn_cli.neurons import observe
from cfsnn_cli.recipe import load_recipe
from tests.firing import assert_every_layer_fires, calibrate_thresholds

BALANCED = ["loss.balance=0.5"]  # the PN term reads every layer's membrane sums: they must survive the rerun

MODELS = {
    "convnet": ("digits-events", [], (2, 8, 8)),
    "resnet20": ("cifar10", ['model.kind="resnet20"', "model.width=8"], (3, 16, 16)),
    "spikformer": ("spikformer-cifar10", ["model.dim=32", "model.heads=2", "model.depth=2"], (3, 16, 16)),
}


def training_step(model, objective, x_seq, labels):
    """One step's gradients, loss, the batch norms' running statistics and the layers recorded."""
    model.train()
    with observe() as seen:
        logits = model(x_seq)
        loss = objective(logits.float(), labels, seen).total
        # backward inside the block, where a rerun's layers could record into it a second time
        gradients = torch.autograd.grad(loss, list(model.parameters()))
    buffers = [buffer.clone() for buffer in model.buffers()]
    return loss.detach(), gradients, buffers, len(seen.layers)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_recomputed_blocks_give_the_plain_step_bit_for_bit(kind):
    recipe_name, overrides, shape = MODELS[kind]
    recipe = load_recipe(recipe_name, overrides + BALANCED + ["data.timesteps=4"])
    torch.manual_seed(0)
    x_seq = torch.rand(4, 4, *shape) * 2.5
    labels = torch.tensor([0, 1, 2, 3])
    plain = calibrate_thresholds(build_model(recipe, shape, 10), x_seq)
    assert_every_layer_fires(plain, x_seq)
    recomputed = copy.deepcopy(plain)
    blocks = recompute_blocks(recomputed)
    assert len(blocks) >= 2, blocks
    objective = build_objective(recipe)

    torch.manual_seed(1)  # the same dropout draws in both (and in the rerun, which checkpoint restores)
    want = training_step(plain, objective, x_seq, labels)
    torch.manual_seed(1)
    got = training_step(recomputed, objective, x_seq, labels)

    assert torch.equal(got[0], want[0])
    for got_gradient, want_gradient in zip(got[1], want[1], strict=True):
        assert torch.equal(got_gradient, want_gradient)
    for got_buffer, want_buffer in zip(got[2], want[2], strict=True):
        assert torch.equal(got_buffer, want_buffer)  # running statistics took the batch once
    assert got[3] == want[3]  # each layer recorded once


def test_evaluation_and_the_state_dict_are_untouched():
    recipe = load_recipe("digits-events", ["data.timesteps=3"])
    model = build_model(recipe, (2, 8, 8), 10)
    keys = list(model.state_dict())
    recompute_blocks(model)
    assert list(model.state_dict()) == keys
    model.eval()
    x_seq = torch.rand(3, 2, 2, 8, 8)
    with torch.no_grad():
        assert model(x_seq).shape == (3, 2, 10)


def test_a_flat_net_is_cut_after_each_spiking_layer():
    recipe = load_recipe("digits-events", ["data.timesteps=3"])
    assert recompute_blocks(build_model(recipe, (2, 8, 8), 10)) == ["0-1", "2-4", "5-7"]


def test_a_model_without_blocks_trains_as_before_and_says_so(tmp_path):
    """A real `cfsnn train`: the option is not silently ignored."""
    command = [str(Path(sys.executable).parent / "cfsnn"), "train", "quickstart", "--out", str(tmp_path / "run")]
    command += ["--set", "train.epochs=1", "--set", "model.hidden=[16]", "--set", "train.recompute_blocks=true"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "cfsnn: note: train.recompute_blocks: model 'mlp' has no blocks to recompute" in done.stderr
