"""Checkpoints describe themselves, load back exactly, and refuse broken or foreign files clearly."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from cfsnn_cli.engine.build import build_loader, build_model, build_split
from cfsnn_cli.engine.model_file import load_model_checkpoint, load_weights
from cfsnn_cli.engine.train import train
from cfsnn_cli.errors import CfsnnError
from tests.engine.helpers import tiny_recipe, write_mismatched_checkpoint


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt") / "run"
    train(tiny_recipe("train.epochs=1"), folder)
    return folder


def test_run_folder_layout_and_metadata(run_dir):
    assert {p.name for p in run_dir.iterdir()} == {
        "model.safetensors",
        "best.safetensors",
        "state.safetensors",
        "recipe.toml",
        "metrics.jsonl",
    }
    with safe_open(str(run_dir / "model.safetensors"), "pt") as handle:
        metadata = handle.metadata()
    assert metadata["format"] == "cfsnn" and metadata["format_version"] == "1"
    assert json.loads(metadata["recipe"])["name"] == "quickstart"
    assert json.loads(metadata["metrics"])["epoch"] == 1
    assert {"cfsnn_version", "torch_version", "epoch", "input_shape", "class_names"} <= metadata.keys()
    assert not any(name.endswith((".pt", ".pth", ".pkl", ".tmp")) for name in map(str, run_dir.iterdir()))


def test_the_model_rebuilds_from_the_checkpoint_alone(run_dir):
    """Rebuilt from nothing but the file, the model scores on the test split exactly what training
    measured at that epoch: the recipe, the shapes and the weights are all in it."""
    checkpoint = load_model_checkpoint(run_dir)
    model = build_model(checkpoint.recipe, checkpoint.input_shape, checkpoint.num_classes)
    load_weights(model, checkpoint)
    model.eval()
    data = build_split(checkpoint.recipe, "test")
    correct = 0
    with torch.no_grad():
        for x_seq, labels in build_loader(checkpoint.recipe, data, train=False):
            correct += int((model(x_seq).mean(0).argmax(1) == labels).sum())
    assert correct / len(data.dataset) == checkpoint.metrics["test_accuracy"]
    assert 0.5 < checkpoint.metrics["test_accuracy"] < 1  # trained, and not a trivially perfect split


def test_truncated_checkpoint(run_dir, tmp_path):
    broken = tmp_path / "model.safetensors"
    broken.write_bytes((run_dir / "model.safetensors").read_bytes()[:1000])
    with pytest.raises(CfsnnError, match="not a readable safetensors file"):
        load_model_checkpoint(broken)


def test_garbage_checkpoint(tmp_path):
    broken = tmp_path / "model.safetensors"
    broken.write_bytes(b"\x00" * 64)
    with pytest.raises(CfsnnError, match="not a readable safetensors file"):
        load_model_checkpoint(broken)


def test_foreign_safetensors_file(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CfsnnError, match="not written by cfsnn"):
        load_model_checkpoint(foreign)


def test_weights_that_do_not_fit_the_recipe(run_dir, tmp_path):
    mismatched = write_mismatched_checkpoint(run_dir / "model.safetensors", tmp_path / "mismatched.safetensors")
    checkpoint = load_model_checkpoint(mismatched)
    model = build_model(checkpoint.recipe, checkpoint.input_shape, checkpoint.num_classes)
    with pytest.raises(CfsnnError, match=r"weights do not fit the model its recipe builds.*size mismatch"):
        load_weights(model, checkpoint)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CfsnnError, match="does not exist"):
        load_model_checkpoint(tmp_path / "nothing")
