"""Stopping and resuming changes nothing: the weights equal those of an uninterrupted run."""

import pytest
from safetensors.torch import load_file

from cfsnn_cli.engine.train import StopRequest, TrainingInterrupted, read_metrics, train
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
    assert [m["train_loss"] for m in read_metrics(straight)] == pytest.approx([m["train_loss"] for m in read_metrics(interrupted)], rel=1e-12)


def test_a_finished_run_cannot_be_resumed(tmp_path):
    from cfsnn_cli.errors import CfsnnError

    train(tiny_recipe("train.epochs=1"), tmp_path / "run")
    with pytest.raises(CfsnnError, match="already finished"):
        train(tiny_recipe("train.epochs=1"), tmp_path / "run", resume=True)
