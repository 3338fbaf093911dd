"""`train.channels_last`: conv weights trained in the NHWC layout are saved as the same numbers in
the plain layout, so eval, profile-spikes, export and --resume read them as any other checkpoint."""

import pytest
import torch
from safetensors.torch import load_file

from cfsnn_cli.engine import run_writer
from cfsnn_cli.engine.build import build_model
from cfsnn_cli.engine.evaluate import evaluate_checkpoint
from cfsnn_cli.engine.load import load_model
from cfsnn_cli.engine.model_file import save_model
from cfsnn_cli.engine.run_folder import read_metrics
from cfsnn_cli.engine.train import train
from cfsnn_cli.engine.training_ends import StopRequest, TrainingInterrupted
from cfsnn_cli.engine.training_state import TrainingPosition, save_training_state
from cfsnn_cli.recipe import load_recipe
from tests.engine.helpers import StopAfter

TINY_CONVNET = ["model.kind='convnet'", "model.channels=[4, 8]", "model.hidden=16", "data.batch_size=64"]


def convnet_recipe(*overrides: str):
    return load_recipe("quickstart", [*TINY_CONVNET, "train.channels_last=true", *overrides])


def is_channels_last(tensor: torch.Tensor) -> bool:
    return tensor.dim() == 4 and not tensor.is_contiguous() and tensor.is_contiguous(memory_format=torch.channels_last)


def test_channels_last_weights_are_saved_as_the_same_numbers_that_load_back(tmp_path):
    recipe = convnet_recipe()
    model = build_model(recipe, (1, 8, 8), 10).to(memory_format=torch.channels_last)
    assert any(is_channels_last(p) for p in model.parameters())  # 4-D conv weights with C > 1 changed layout
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.rand(4, 2, 1, 8, 8)).sum().backward()
    optimizer.step()  # Adam's moments take the weights' layout
    position = TrainingPosition(epoch=1, next_step=0, global_step=1)
    classes = [str(digit) for digit in range(10)]
    save_model(tmp_path / "model.safetensors", model, recipe, 1, 1, {"epoch": 1}, (1, 8, 8), classes)
    save_training_state(tmp_path / "state.safetensors", model, optimizer, recipe, position)

    saved = load_file(tmp_path / "model.safetensors")
    assert all(torch.equal(saved[name], tensor) for name, tensor in model.state_dict().items())
    _, rebuilt = load_model(tmp_path / "model.safetensors")
    assert all(torch.equal(rebuilt.state_dict()[name], tensor) for name, tensor in model.state_dict().items())
    state = load_file(tmp_path / "state.safetensors")
    for index, parameter in enumerate(model.parameters()):
        assert torch.equal(state[f"optimizer.{index}.exp_avg"], optimizer.state[parameter]["exp_avg"])


@pytest.mark.slow  # three short trainings of a conv net: about 15 s on two CPU cores
def test_a_channels_last_run_evaluates_and_resumes_like_any_other(tmp_path, monkeypatch):
    layouts = []
    real_save_model = run_writer.save_model

    def spy(path, model, *args):
        layouts.append(any(is_channels_last(p) for p in model.parameters()))
        real_save_model(path, model, *args)

    monkeypatch.setattr(run_writer, "save_model", spy)
    recipe = convnet_recipe("train.epochs=2")
    train(recipe, tmp_path / "straight")
    assert layouts and all(layouts)  # it really trained in the NHWC layout

    metrics = read_metrics(tmp_path / "straight")[-1]
    _, evaluation = evaluate_checkpoint(tmp_path / "straight")  # rebuilt in the plain layout
    assert evaluation.loss == pytest.approx(metrics["test_loss"], rel=1e-4)  # other conv kernels, same numbers
    assert abs(evaluation.top1 - metrics["test_accuracy"]) <= 1 / evaluation.samples

    stop = StopRequest()
    with pytest.raises(TrainingInterrupted):
        train(recipe, tmp_path / "interrupted", reporter=StopAfter(stop, 30), stop=stop)  # mid-epoch 2
    train(recipe, tmp_path / "interrupted", resume=True)
    straight, resumed = (
        load_file(tmp_path / "straight" / "model.safetensors"),
        load_file(tmp_path / "interrupted" / "model.safetensors"),
    )
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)
