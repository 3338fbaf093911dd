"""Shared by the integer tests: quantised zoo models whose every layer fires on the digits, the
real test split's batches, and the three integer runtimes' spikes side by side."""

import json

import numpy as np
import torch

from cfsnn_cli.engine.build import build_loader, build_split
from cfsnn_cli.models.blocks import TimeFolded, conv_bn, flatten_to_linear
from cfsnn_cli.neurons import build_neuron
from cfsnn_cli.quant.onnx_graph import integer_onnx
from cfsnn_cli.quant.prepare import calibrate, quantize_model
from cfsnn_cli.quant.program import integer_program
from cfsnn_cli.quant.settings import Quantization
from cfsnn_cli.recipe import load_recipe
from tests.engine.export_helpers import model_with_statistics, onnx_steps, with_statistics
from tests.firing import calibrate_thresholds, recorded

DIGITS_SHAPE = (1, 8, 8)
NEURONS = {
    "cf1": ("cf", {"levels": 1}),
    "cf3": ("cf", {"levels": 3, "tau": 4.0}),
    "lif": ("lif", {"reset": "soft"}),
    "lif-hard": ("lif", {"reset": "hard", "v_reset": -0.1, "tau": 3.0}),
    # learned β and θ, a potential that starts above rest
    "cf-learned": (
        "cf",
        {"levels": 2, "tau": 3.0, "learn_tau": True, "threshold": 0.6, "learn_threshold": True, "v_init": 0.1},
    ),
}
OPTIONS = {"convnet": {"channels": [8, 16], "hidden": 32}, "resnet20": {"width": 8}, "mlp": {"hidden": [48]}}


def digits_batches(timesteps: int = 4, batch_size: int = 120):
    """The whole digits test split (real data: scikit-learn's), in batches [T, B, 1, 8, 8]."""
    recipe = load_recipe("quickstart", [f"data.timesteps={timesteps}", f"data.eval_batch_size={batch_size}"])
    return build_loader(recipe, build_split(recipe, "test"), train=False)


def max_pool_chain(neuron) -> torch.nn.Module:
    """conv → SN → max pool 2 → conv → SN → max pool 3 (stride 2, padding 1) → linear: the max
    pools of the residual families' stems, small enough for the digits."""
    return torch.nn.Sequential(
        conv_bn(1, 8), neuron(), TimeFolded(torch.nn.MaxPool2d(2)),
        conv_bn(8, 8), neuron(), TimeFolded(torch.nn.MaxPool2d(3, stride=2, padding=1)),
        flatten_to_linear(8 * 2 * 2, 10),
    )  # fmt: skip


def quantised_model(kind: str, neuron: str, settings: Quantization) -> torch.nn.Module:
    """A zoo model (or the `max_pool_chain`) with batch-norm statistics of its own, thresholds that
    make every layer fire on the digits, then folded, quantised and calibrated on the first test batch."""
    if kind == "max_pool_chain":
        torch.manual_seed(0)
        model = with_statistics(
            max_pool_chain(lambda: build_neuron(NEURONS[neuron][0], **NEURONS[neuron][1])),
            DIGITS_SHAPE,
            calibrated=False,
        )
    else:
        model = model_with_statistics(kind, DIGITS_SHAPE, *NEURONS[neuron], calibrated=False, **OPTIONS[kind])
    x_seq, _ = next(iter(digits_batches()))
    calibrate_thresholds(model, x_seq[:, :24], quantile=0.7)  # a layer at a time: a small batch will do
    quantize_model(model, settings)
    calibrate(model, x_seq.flatten(0, 1), settings)
    return model.eval()


def program_of(model: torch.nn.Module, settings: Quantization):
    return integer_program(model, DIGITS_SHAPE, settings)


def onnx_session(program, mode: str, timesteps: int):
    import onnxruntime

    blob = integer_onnx(program, mode, timesteps, 18, {})
    return onnxruntime.InferenceSession(blob, providers=["CPUExecutionProvider"]), blob


def torch_spikes(model: torch.nn.Module, program, x_seq: torch.Tensor) -> list[np.ndarray]:
    """The fake-quantised model's spikes of each layer, in the program's order of neuron layers."""
    seen = recorded(model, x_seq, "out")
    return [seen[op["name"]].numpy().astype(np.int8) for op in program.neuron_ops()]


def onnx_step_run(session, blob: bytes, x_seq: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The step graph looped over T by the caller, each V_0 from the graph's metadata."""
    import onnx

    props = {prop.key: prop.value for prop in onnx.load_from_string(blob).metadata_props}
    shapes = {i.name: i.shape for i in session.get_inputs() if i.name != "x"}
    states = {}
    for (name, shape), v_init in zip(shapes.items(), json.loads(props["cfsnn_v_init"]), strict=True):
        channels = np.array(v_init, np.int64).reshape(1, -1, *([1] * (len(shape) - 2)))
        states[name] = np.broadcast_to(channels, (x_seq.shape[1], *shape[1:])).copy()
    return onnx_steps(session, x_seq, len(states), states)
