"""The safetensors inference bundle: batch norm folded exactly, recorded in the metadata, and read
by `load_model` (so by eval and profile-spikes) like a checkpoint, with the checkpoint's accuracy."""

import json

import pytest
import torch
from safetensors import safe_open
from torch import nn

from cfsnn_cli.engine.evaluate import evaluate_checkpoint
from cfsnn_cli.engine.export import export_checkpoint
from cfsnn_cli.engine.export.bundle import folded_copy
from cfsnn_cli.engine.load import load_model
from cfsnn_cli.engine.profile import profile_checkpoint
from cfsnn_cli.engine.step import run_steps
from cfsnn_cli.engine.train import train
from cfsnn_cli.models.folding import fold_batch_norm
from cfsnn_cli.recipe import load_recipe
from tests.engine.export_helpers import inputs_away_from_threshold, model_with_statistics
from tests.engine.helpers import tiny_recipe
from tests.models.test_models import INPUTS

FOLDED_MODELS = {"mlp": {"hidden": [16, 8]}, "convnet": {"channels": [4, 8], "hidden": 16}, "resnet20": {"width": 4}}


@pytest.mark.parametrize("neuron", [("cf", {"levels": 3}), ("lif", {"reset": "hard"})])
@pytest.mark.parametrize("kind", ["mlp", "convnet", pytest.param("resnet20", marks=pytest.mark.slow)])
def test_folding_keeps_spikes_and_logits(kind, neuron):
    # in float64: folding is an identity of algebra, and every layer fires, so in float32 some of
    # the many firing potentials would lie within rounding of a boundary
    model = model_with_statistics(kind, INPUTS[kind], *neuron, **FOLDED_MODELS[kind]).double()
    folded = folded_copy(model)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    assert any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())  # the original is untouched
    x_seq = inputs_away_from_threshold([model, folded], 3, 4, INPUTS[kind], dtype=torch.float64)
    with torch.no_grad():
        logits, spikes = run_steps(model, x_seq)
        folded_logits, folded_spikes = run_steps(folded, x_seq)
    assert sum(s.abs().sum().item() for s in spikes) > 0
    for got, want in zip(folded_spikes, spikes, strict=True):
        assert torch.equal(got, want)
    torch.testing.assert_close(folded_logits, logits, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Trained tiny checkpoints of the two digit datasets and their bundles."""
    root = tmp_path_factory.mktemp("bundle")
    recipes = {
        "digits": tiny_recipe("train.epochs=1"),
        "digits-events": load_recipe(
            "digits-events",
            [
                "train.epochs=1",
                "data.timesteps=4",
                "data.frame_size=16",
                f"data.cache_dir='{root / 'cache'}'",
                "model.channels=[4, 8]",
                "model.hidden=16",
                "train.device='cpu'",
            ],
        ),
    }
    made = {}
    for name, recipe in recipes.items():
        train(recipe, root / name)
        bundle = root / f"{name}-bundle.safetensors"
        export_checkpoint(root / name, "safetensors", bundle)
        made[name] = (root / name / "model.safetensors", bundle)
    return made


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits", "digits-events"])
def test_bundle_evaluates_to_the_checkpoints_accuracy(runs, name):
    checkpoint, bundle = runs[name]
    _, original = evaluate_checkpoint(checkpoint)
    _, folded = evaluate_checkpoint(bundle)
    assert abs(original.top1 - folded.top1) * original.samples <= 1
    assert original.samples == folded.samples


@pytest.mark.slow
def test_bundle_describes_itself_and_loads_like_a_checkpoint(runs):
    checkpoint_path, bundle = runs["digits-events"]
    with safe_open(str(bundle), "pt") as handle:
        metadata = handle.metadata()
        names = set(handle.keys())
    folding = json.loads(metadata["folding"])
    assert [entry["into"] for entry in folding] == ["0.layer.0", "3.layer.0"]  # the two conv → BN stages
    assert not any("running_mean" in name for name in names)
    assert json.loads(metadata["recipe"])["name"] == "digits-events"
    assert {"cfsnn_version", "torch_version", "exported"} <= metadata.keys()
    assert json.loads(metadata["exported"])["from"] == str(checkpoint_path)
    checkpoint, model = load_model(bundle)
    assert checkpoint.folding == folding and not model.training
    _, original = load_model(checkpoint_path)
    x_seq = inputs_away_from_threshold([original, model], 4, 3, checkpoint.input_shape, scale=2.0)
    with torch.no_grad():
        for got, want in zip(run_steps(model, x_seq)[1], run_steps(original, x_seq)[1], strict=True):
            assert torch.equal(got, want)
    _, profile = profile_checkpoint(bundle, samples=8)
    assert profile is not None


@pytest.mark.parametrize("layer", ["conv", "linear"])
def test_folded_weights_follow_the_formula_in_float64_even_where_the_variance_is_near_eps(layer):
    """W' = W·γ/√(σ² + ε), b' = (b − μ)·γ/√(σ² + ε) + β, written out here on its own. Channels whose
    variance is 0, ε/10, ε and 1: without ε (or with it in the wrong place) the first three are off
    by a factor of √2 or more, or infinite."""
    torch.manual_seed(0)
    first = nn.Conv2d(3, 4, 3, bias=layer == "conv") if layer == "conv" else nn.Linear(5, 4)
    norm = (nn.BatchNorm2d if layer == "conv" else nn.BatchNorm1d)(4, eps=1e-5)
    model = nn.Sequential(first, norm).double().eval()
    with torch.no_grad():
        norm.running_var.copy_(torch.tensor([0.0, 1e-6, 1e-5, 1.0], dtype=torch.float64))
        norm.running_mean.uniform_(-1, 1)
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    weight = first.weight.detach().clone()
    bias = first.bias.detach().clone() if first.bias is not None else torch.zeros(4, dtype=torch.float64)
    gamma, beta, mean, var = (t.detach().clone() for t in (norm.weight, norm.bias, norm.running_mean, norm.running_var))
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64) if layer == "conv" else torch.randn(2, 5, dtype=torch.float64)
    before = model(x)
    fold_batch_norm(model)
    scale = gamma / torch.sqrt(var + 1e-5)
    expected_weight = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    torch.testing.assert_close(model[0].weight, expected_weight, rtol=1e-14, atol=0)
    torch.testing.assert_close(model[0].bias, (bias - mean) * scale + beta, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(model(x), before, rtol=1e-12, atol=1e-12)
    assert isinstance(model[1], nn.Identity)
