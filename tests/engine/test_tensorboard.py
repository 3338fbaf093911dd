"""train.tensorboard = true: the event files, read back with TensorBoard's own reader, hold what
metrics.jsonl and the checkpoint hold; without the package the recipe is refused before any file."""

import math
import sys

import pytest

from cfsnn_cli.engine.run_folder import TENSORBOARD_FOLDER, read_metrics
from cfsnn_cli.engine.tensorboard import SCALARS
from cfsnn_cli.engine.train import train
from cfsnn_cli.engine.training_ends import StopRequest, TrainingInterrupted
from cfsnn_cli.errors import CfsnnError
from tests.engine.helpers import StopAfter, tiny_recipe

# two spiking layers with per-step α; batches of 256: 6 steps an epoch
BOARD = ("model.hidden=[32, 16]", "data.batch_size=256", "train.tensorboard=true")


def read_board(run_dir) -> dict[str, dict[int, float]]:
    """tag → {step: value}, as TensorBoard shows them (purged points left out)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / TENSORBOARD_FOLDER))
    events.Reload()
    scalars = {}
    for tag in events.Tags()["scalars"]:
        points = events.Scalars(tag)
        steps = [p.step for p in points]
        assert len(steps) == len(set(steps)), f"{tag}: an epoch written twice: {steps}"
        scalars[tag] = {p.step: p.value for p in points}
    return scalars


@pytest.fixture(scope="module")
def board_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("board") / "run"
    train(tiny_recipe(*BOARD), run_dir)
    return run_dir


def spiking_layers(run_dir):
    """The checkpoint's epoch and its spiking layers by module path, in the model's order."""
    from cfsnn_cli.engine.load import load_model
    from cfsnn_cli.neurons import SpikingNeuron

    checkpoint, model = load_model(run_dir)
    return checkpoint.epoch, {name: m for name, m in model.named_modules() if isinstance(m, SpikingNeuron)}


def test_the_scalars_are_the_metrics_of_every_epoch(board_run):
    board, history = read_board(board_run), read_metrics(board_run)
    _, layers = spiking_layers(board_run)
    assert [m["epoch"] for m in history] == [1, 2]
    for metrics in history:
        epoch = metrics["epoch"]
        for key, tag in SCALARS.items():
            assert board[tag][epoch] == pytest.approx(metrics[key], rel=1e-6), tag
        assert list(metrics["layer_firing_rates"]) == list(layers)
        rates = [board[f"firing_rate/{name}"][epoch] for name in layers]
        assert rates == pytest.approx(list(metrics["layer_firing_rates"].values()), rel=1e-6)


def test_every_spiking_layer_has_its_firing_rate_and_the_checkpoints_alpha(board_run):
    board = read_board(board_run)
    epoch, layers = spiking_layers(board_run)
    assert len(layers) == 2 and epoch == 2
    assert {tag for tag in board if tag.startswith("firing_rate/")} == {f"firing_rate/{name}" for name in layers}
    for name, layer in layers.items():
        alpha = layer.surrogate.alpha_values().tolist()
        assert len(alpha) == 4  # learnable = "timestep", T = 4
        written = [board[f"alpha/{name}/t{t}"][epoch] for t in range(1, 5)]
        assert written == pytest.approx(alpha, rel=1e-6)
        assert written != pytest.approx([4.0] * 4)  # it was learnt: not the starting value


def test_the_test_firing_rate_is_what_profile_spikes_reports(board_run):
    from cfsnn_cli.engine.evaluate import evaluate_checkpoint
    from cfsnn_cli.engine.profile import profile_checkpoint

    metrics = read_metrics(board_run)[-1]
    _, profile = profile_checkpoint(board_run, split="test")
    assert metrics["test_firing_rate"] == pytest.approx(profile.firing_rate, abs=1e-6)
    assert metrics["layer_firing_rates"] == pytest.approx(
        {layer.name: layer.rate for layer in profile.layers}, abs=1e-6
    )
    assert 0 < metrics["test_firing_rate"] < 1
    # `cfsnn eval` evaluates the same checkpoint the same way
    _, evaluation = evaluate_checkpoint(board_run)
    assert evaluation.firing_rate == pytest.approx(metrics["test_firing_rate"], abs=1e-12)
    assert evaluation.layer_firing_rates == pytest.approx(
        {layer.name: layer.rate for layer in profile.layers}, abs=1e-6
    )


def test_without_tensorboard_the_recipe_is_refused_before_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # what `import tensorboard` then fails on
    with pytest.raises(CfsnnError) as caught:
        train(tiny_recipe(*BOARD), tmp_path / "run")
    message = str(caught.value)
    assert message == 'train.tensorboard: needs tensorboard, not installed: pip install "cfsnn[tensorboard]"'
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_resumed_run_appends_and_shows_each_epoch_once(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    recipe = tiny_recipe(*BOARD, "train.epochs=3")
    run_dir, stop = tmp_path / "run", StopRequest()
    with pytest.raises(TrainingInterrupted):
        train(recipe, run_dir, reporter=StopAfter(stop, 8), stop=stop)  # in epoch 2
    # a point for epoch 2 written just before a crash, ahead of the saved state
    with SummaryWriter(str(run_dir / TENSORBOARD_FOLDER)) as stray:
        stray.add_scalar("train/loss", 99.0, 2)
    train(recipe, run_dir, resume=True)
    board, history = read_board(run_dir), read_metrics(run_dir)
    assert len(list((run_dir / TENSORBOARD_FOLDER).iterdir())) == 3  # one event file per writer
    assert board["train/loss"] == pytest.approx({m["epoch"]: m["train_loss"] for m in history}, rel=1e-6)
    assert all(set(points) == {1, 2, 3} for points in board.values())
    assert all(math.isfinite(value) for points in board.values() for value in points.values())
