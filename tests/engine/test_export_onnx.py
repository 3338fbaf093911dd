"""ONNX export, both modes, checked in onnxruntime against PyTorch: identical spikes of every layer
and logits within 1e-5, on inputs kept away from the threshold, batch sizes 1 and 7 from one file;
the spiking transformers too (spike × spike attention products, token batch norm folded)."""

import numpy as np
import pytest
import torch

from cfsnn_cli.engine.export.bundle import folded_copy
from cfsnn_cli.engine.export.onnx import export_onnx
from cfsnn_cli.engine.step import run_steps
from cfsnn_cli.neurons.layers import neuron_layers
from tests.engine.export_helpers import inputs_away_from_threshold, model_with_statistics, onnx_steps
from tests.peers import peer

pytestmark = pytest.mark.slow  # each ONNX export traces and converts a model: seconds each

ort = peer("onnxruntime")
peer("onnxscript")

NEURONS = {
    "cf1": ("cf", {"levels": 1}),
    "cf3": ("cf", {"levels": 3, "tau": 4.0}),
    "lif": ("lif", {"reset": "soft"}),
}
SHAPES = {"convnet": (2, 8, 8), "resnet20": (3, 8, 8), "rsnn": (6,)}
T = {"convnet": 4, "resnet20": 2, "rsnn": 5}
OPTIONS = {"convnet": {"channels": [4, 8], "hidden": 16}, "resnet20": {"width": 4}, "rsnn": {"hidden": [12, 10]}}


def build(kind: str, neuron: str) -> torch.nn.Module:
    return model_with_statistics(kind, SHAPES[kind], *NEURONS[neuron], **OPTIONS[kind])


@pytest.mark.parametrize("mode", ["step", "unrolled"])
@pytest.mark.parametrize("neuron", list(NEURONS))
@pytest.mark.parametrize(
    "kind", ["convnet", "rsnn", pytest.param("resnet20", marks=pytest.mark.slow)]
)  # resnet20: ~30 s
def test_onnxruntime_gives_pytorch_spikes_and_logits(kind, neuron, mode, tmp_path):
    model = build(kind, neuron)
    layers = len(neuron_layers(model))
    path = tmp_path / f"{kind}.onnx"
    info = export_onnx(model, SHAPES[kind], path, mode, T[kind], 18)
    assert info["neuron_layers"] == layers
    if mode == "step" and kind == "rsnn":  # each recurrent layer's previous spikes: one more state
        assert info["inputs"] == ["x", "v_0", "r_0", "v_1", "r_1"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    largest = 0.0
    for batch in (1, 7):
        x_seq = inputs_away_from_threshold(model, T[kind], batch, SHAPES[kind])
        with torch.no_grad():
            want_logits, want_spikes = run_steps(model, x_seq)
            # the step path is the sequence path (its products over [B] rather than [T·B] rows may round apart)
            torch.testing.assert_close(want_logits, model(x_seq), rtol=1e-6, atol=1e-6)
        if mode == "step":
            logits, spikes = onnx_steps(session, x_seq.numpy(), layers)
        else:
            logits, *spikes = session.run(None, {"x": x_seq.numpy()})
        assert sum(float(np.abs(s).sum()) for s in spikes) > 0
        largest = max(largest, *(float(np.abs(s).max()) for s in spikes))
        for got, want in zip(spikes, want_spikes, strict=True):
            np.testing.assert_array_equal(got, want.numpy())
        np.testing.assert_allclose(logits, want_logits.numpy(), rtol=1e-5, atol=1e-5)
    assert largest > 1 if neuron == "cf3" else largest == 1  # multi-level spikes were exercised where they exist


def test_unrolled_graph_has_a_fixed_T_and_dynamic_batch(tmp_path):
    model = build("convnet", "cf1")
    export_onnx(model, SHAPES["convnet"], tmp_path / "u.onnx", "unrolled", 3, 18)
    session = ort.InferenceSession(str(tmp_path / "u.onnx"), providers=["CPUExecutionProvider"])
    x = session.get_inputs()[0]
    assert x.name == "x" and x.shape[0] == 3 and isinstance(x.shape[1], str)
    names = [o.name for o in session.get_outputs()]
    assert names == ["logits"] + [f"spikes_{i}" for i in range(len(neuron_layers(model)))]


# Tiny transformers, as `cfsnn export` writes them (batch norm folded first). Image [2, 4, 4] with
# patch_size 2: 4 tokens, so Spikformer takes (Q Kᵀ) V; tokens [12, 6]: 12 tokens of 8 features per
# head, Q (Kᵀ V). The attention's own neurons take 0.125 · an integer or a sum of integers, with
# β = 0.75 and θ = 0.5: potentials exact in float32 in both runtimes, which sit on spike boundaries
# by design and are left out of the margin check. T = 2 and batches 1 and 3: with more values no
# seed keeps all of them MARGIN away from a boundary.
EXACT = frozenset({"blocks.0.attention.attention_neuron", "blocks.0.0.column_neuron"})
TRANSFORMERS = {
    "spikformer": {"depth": 1, "dim": 16, "heads": 2, "mlp_ratio": 2.0, "patch_size": 2},
    "sdt": {"depth": 1, "dim": 16, "mlp_ratio": 2.0, "patch_size": 2},
}
TRANSFORMER_INPUTS = {"image": (2, 4, 4), "tokens": (12, 6)}


@pytest.mark.parametrize(
    "kind,inputs,mode",
    [
        ("spikformer", "image", "step"),
        ("spikformer", "tokens", "step"),
        ("sdt", "image", "step"),
        ("sdt", "tokens", "step"),
        ("spikformer", "image", "unrolled"),  # each ~20 s: T copies of the graph
        ("sdt", "tokens", "unrolled"),
    ],
)
def test_onnxruntime_gives_pytorch_spikes_and_logits_for_transformers(kind, inputs, mode, tmp_path):
    shape, steps = TRANSFORMER_INPUTS[inputs], 2
    neuron = ("cf", {"levels": 3, "tau": 4.0, "threshold": 0.5})  # θ = 1 leaves the blocks silent
    # θ and β powers of two keep the attention neurons' potentials exact: no calibration here
    model = folded_copy(model_with_statistics(kind, shape, *neuron, calibrated=False, **TRANSFORMERS[kind]))
    layers = len(neuron_layers(model))
    export_onnx(model, shape, tmp_path / f"{kind}.onnx", mode, steps, 18)
    session = ort.InferenceSession(str(tmp_path / f"{kind}.onnx"), providers=["CPUExecutionProvider"])
    largest, fired = 0.0, [0.0] * layers
    for batch in (1, 3):
        x_seq = inputs_away_from_threshold(model, steps, batch, shape, exact=EXACT)
        with torch.no_grad():
            want_logits, want_spikes = run_steps(model, x_seq)
            # the step path is the sequence path (whose Linear layers see T·B rows, not B: the same
            # sums, which BLAS may add in another order)
            torch.testing.assert_close(want_logits, model(x_seq), rtol=1e-5, atol=1e-5)
        if mode == "step":
            logits, spikes = onnx_steps(session, x_seq.numpy(), layers)
        else:
            logits, *spikes = session.run(None, {"x": x_seq.numpy()})
        fired = [total + float(np.abs(s).sum()) for total, s in zip(fired, spikes, strict=True)]
        largest = max(largest, *(float(np.abs(s).max()) for s in spikes))
        for got, want in zip(spikes, want_spikes, strict=True):
            np.testing.assert_array_equal(got, want.numpy())
        np.testing.assert_allclose(logits, want_logits.numpy(), rtol=1e-5, atol=1e-5)
    assert all(fired), f"a silent layer shows nothing: {fired}"
    assert largest > 1  # multi-level spikes went through the attention products
