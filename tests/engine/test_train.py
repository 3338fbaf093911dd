"""The training loop: divergence handling, no half-written run folders, schedules, bf16."""

import json
import math

import pytest

from cfsnn_cli.engine.schedule import learning_rate
from cfsnn_cli.engine.train import train
from cfsnn_cli.engine.training_ends import TrainingDiverged
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.recipe_sections import ScheduleSection
from tests.engine.helpers import tiny_recipe


@pytest.fixture
def nan_loss_at_step(monkeypatch):
    """Make the objective return NaN at the given (1-based, global) training step."""
    from cfsnn_cli.losses import objective

    real_forward = objective.Objective.forward
    state = {"calls": 0, "at": None}

    def poisoned(self, *args, **kwargs):
        state["calls"] += 1
        parts = real_forward(self, *args, **kwargs)
        if state["calls"] == state["at"]:
            parts.total = parts.total * math.nan
        return parts

    monkeypatch.setattr(objective.Objective, "forward", poisoned)
    return lambda step: state.update(at=step)


def test_a_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, nan_loss_at_step):
    nan_loss_at_step(30)  # inside epoch 2 (23 steps per epoch)
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"nan at epoch 2, step 7; the last good checkpoint is kept"):
        train(tiny_recipe("train.epochs=3"), run_dir)
    assert (run_dir / "model.safetensors").exists()
    assert [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [1]


def test_a_nan_in_the_first_epoch_leaves_no_run_folder(tmp_path, nan_loss_at_step):
    nan_loss_at_step(3)
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="nothing was kept"):
        train(tiny_recipe(), run_dir)
    assert not run_dir.exists()


def test_an_existing_run_folder_is_not_overwritten(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(CfsnnError, match="already holds files"):
        train(tiny_recipe(), tmp_path / "run")
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "section,expected",
    [
        (ScheduleSection(kind="constant", warmup_epochs=1), [0.5, 1.0, 1.0, 1.0]),
        (ScheduleSection(kind="step", step_size=1, gamma=0.5), [1.0, 1.0, 0.5, 0.5]),
        (ScheduleSection(kind="cosine", min_lr=0.0), [1.0, 0.8535533905932737, 0.5, 0.14644660940672627]),
    ],
)
def test_schedules(section, expected):
    assert [learning_rate(section, 1.0, step, 2, 2) for step in range(4)] == pytest.approx(expected)


def test_bf16_autocast_trains(tmp_path):
    from cfsnn_cli.engine.run_folder import read_metrics

    train(tiny_recipe("train.epochs=1", "train.precision='bf16'"), tmp_path / "run")
    [metrics] = read_metrics(tmp_path / "run")
    assert math.isfinite(metrics["train_loss"]) and metrics["test_accuracy"] > 0.5


@pytest.mark.slow  # compiling the steps takes a minute on two CPU cores
def test_a_compiled_run_saves_what_an_uncompiled_one_does_and_eval_loads_it(tmp_path):
    from safetensors.torch import load_file

    from cfsnn_cli.engine.evaluate import evaluate_checkpoint
    from cfsnn_cli.engine.run_folder import read_metrics

    train(tiny_recipe("train.epochs=1", "train.compile=true"), tmp_path / "compiled")
    train(tiny_recipe("train.epochs=1"), tmp_path / "plain")
    for name in ("model.safetensors", "state.safetensors"):
        assert load_file(tmp_path / "compiled" / name).keys() == load_file(tmp_path / "plain" / name).keys()
    _, evaluation = evaluate_checkpoint(tmp_path / "compiled")
    [metrics] = read_metrics(tmp_path / "compiled")
    assert evaluation.top1 == metrics["test_accuracy"] > 0.5


def test_the_last_epoch_records_the_trained_models_cost_as_profile_spikes_measures_it(tmp_path):
    from cfsnn_cli.engine.profile import profile_checkpoint

    result = train(tiny_recipe(), tmp_path / "run")
    lines = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert "test_synops" not in lines[0]  # one profile per run, of the model it ends with
    _, profile = profile_checkpoint(result.run_dir / "model.safetensors")
    assert profile.synops > 0
    assert lines[-1]["test_synops"] == pytest.approx(profile.synops, rel=1e-9)
    assert lines[-1]["test_macs"] == pytest.approx(profile.macs, rel=1e-9)
    assert lines[-1]["test_energy_pj"] == pytest.approx(profile.energy.total_pj, rel=1e-9)
