"""Stopping and resuming changes nothing: the weights equal those of an uninterrupted run."""

import pytest
import torch
from safetensors.torch import load_file

from cfsnn_cli.engine.run_folder import read_metrics
from cfsnn_cli.engine.train import train
from cfsnn_cli.engine.training_ends import StopRequest, TrainingInterrupted
from tests.engine.helpers import StopAfter, tiny_recipe


def weights(run_dir):
    return load_file(run_dir / "model.safetensors")


@pytest.mark.parametrize("stop_after_steps", [23, 10])  # 23 = end of epoch 1 (1437 / 64); 10 = mid-epoch
def test_interrupt_and_resume_give_identical_weights(tmp_path, stop_after_steps):
    recipe = tiny_recipe("model.dropout=0.1")  # dropout: the RNG state must survive the stop too
    straight = tmp_path / "straight"
    train(recipe, straight)

    interrupted = tmp_path / "interrupted"
    stop = StopRequest()
    with pytest.raises(TrainingInterrupted) as caught:
        train(recipe, interrupted, reporter=StopAfter(stop, stop_after_steps), stop=stop)
    assert caught.value.position.global_step == stop_after_steps
    files = {p.name for p in interrupted.iterdir()}
    assert {"state.safetensors", "recipe.toml"} <= files
    # model.safetensors is the last finished epoch: a mid-epoch stop writes only the state
    assert ("model.safetensors" in files) == (stop_after_steps == 23)
    train(recipe, interrupted, resume=True)

    a, b = weights(straight), weights(interrupted)
    assert a.keys() == b.keys()
    for name in a:
        assert (a[name] == b[name]).all(), name
    assert read_metrics(straight)[-1]["test_accuracy"] == read_metrics(interrupted)[-1]["test_accuracy"]
    assert [m["train_loss"] for m in read_metrics(straight)] == pytest.approx(
        [m["train_loss"] for m in read_metrics(interrupted)], rel=1e-12
    )


def test_a_finished_run_cannot_be_resumed(tmp_path):
    from cfsnn_cli.errors import CfsnnError

    train(tiny_recipe("train.epochs=1"), tmp_path / "run")
    with pytest.raises(CfsnnError, match="already finished"):
        train(tiny_recipe("train.epochs=1"), tmp_path / "run", resume=True)


def test_resume_is_exact_with_worker_processes_and_random_augmentation(tmp_path):
    """Every sample's augmentation is seeded by its place in the epoch, not by the worker that
    happens to load it, so a mid-epoch resume replays the same draws."""
    from cfsnn_cli.recipe import load_recipe
    from tests.data.event_fixtures import write_nmnist

    write_nmnist(tmp_path / "data")
    recipe = load_recipe(
        "nmnist",
        [
            f"data.root='{tmp_path / 'data'}'",
            f"data.cache_dir='{tmp_path / 'cache'}'",
            "data.workers=2",
            "data.frame_size=17",
            "data.timesteps=3",
            "data.batch_size=4",
            "data.eval_batch_size=10",
            "data.flip=true",
            "data.roll=3",
            "data.drop=0.2",
            "model.channels=[4, 8]",
            "model.hidden=16",
            "model.dropout=0.2",
            "train.epochs=2",
            "train.device='cpu'",
        ],
    )
    train(recipe, tmp_path / "straight")
    stop = StopRequest()
    with pytest.raises(TrainingInterrupted):
        train(recipe, tmp_path / "interrupted", reporter=StopAfter(stop, 7), stop=stop)  # 5 steps per epoch
    train(recipe, tmp_path / "interrupted", resume=True)
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "interrupted")
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_a_run_whose_layers_differ_resumes_into_the_same_layers(tmp_path):
    """The state file's tensors (a learned θ in one layer only, α per layer in another) load only
    into a model rebuilt with the same `[layers]`, which the stored recipe gives."""
    from cfsnn_cli.engine.load import load_model

    recipe = tiny_recipe(
        "model.hidden=[32, 16]",
        'layers.first.match="1"',
        "layers.first.neuron.kind=lif",
        "layers.first.neuron.learn_threshold=true",
        'layers.second.match="3"',
        "layers.second.surrogate.kind=atan",
        "layers.second.surrogate.learnable=layer",
    )
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    train(recipe, straight)
    stop = StopRequest()
    with pytest.raises(TrainingInterrupted):
        train(recipe, interrupted, reporter=StopAfter(stop, 10), stop=stop)
    train(recipe, interrupted, resume=True)
    a, b = weights(straight), weights(interrupted)
    assert "1.raw_threshold" in a and "3.surrogate.raw_alpha" in a
    assert a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)
    checkpoint, model = load_model(interrupted, torch.device("cpu"))  # the path eval, profile and export take
    assert checkpoint.recipe.layers == recipe.layers
    assert [type(layer).__name__ for layer in (model[1], model[3])] == ["LIFNeuron", "CFNeuron"]
    assert type(model[3].surrogate).__name__ == "AtanSurrogate"
