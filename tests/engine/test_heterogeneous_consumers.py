"""Everything downstream of a model reads each neuron layer's own settings: the ONNX and NIR files,
the profiler and the PN term, each on a model whose layers differ in kind, τ, θ, reset, levels and
surrogate (`tests/heterogeneous.py`), against an independent computation layer by layer."""

import numpy as np
import pytest
import torch

from cfsnn_cli.engine.export.bundle import folded_copy
from cfsnn_cli.engine.export.nir import model_to_nir
from cfsnn_cli.engine.export.onnx import export_onnx
from cfsnn_cli.engine.profile import histogram_edges, profile_model
from cfsnn_cli.engine.step import run_steps
from cfsnn_cli.losses import Objective
from cfsnn_cli.neurons import observe
from cfsnn_cli.neurons.layers import named_neuron_layers
from cfsnn_cli.neurons.reference import reference_sequence
from tests.engine.export_helpers import inputs_away_from_threshold, onnx_steps, with_statistics
from tests.firing import recorded
from tests.heterogeneous import BINARY, MIXED, MODELS, describe, heterogeneous_model
from tests.peers import peer

T, BATCH = 4, 3


def prepared(kind: str, settings: list[str] = MIXED, calibrated: bool = False) -> torch.nn.Module:
    """A heterogeneous model in eval mode with batch-norm statistics of its own. Thresholds stay the
    recipe's unless `calibrated` (which sets each fixed θ to its own firing quantile, still one per layer)."""
    return with_statistics(heterogeneous_model(kind, settings), MODELS[kind][0], calibrated=calibrated)


@pytest.mark.slow  # an ONNX export traces and converts the model
@pytest.mark.parametrize("mode", ["step", "unrolled"])
def test_onnx_runs_each_layer_with_its_own_settings(mode, tmp_path):
    ort = peer("onnxruntime")
    peer("onnxscript")
    model = prepared("convnet", calibrated=True)
    shape = MODELS["convnet"][0]
    info = export_onnx(model, shape, tmp_path / "net.onnx", mode, T, 18)
    session = ort.InferenceSession(str(tmp_path / "net.onnx"), providers=["CPUExecutionProvider"])
    x_seq = inputs_away_from_threshold(model, T, BATCH, shape)
    with torch.no_grad():
        want_logits, want_spikes = run_steps(model, x_seq)
    if mode == "step":
        logits, spikes = onnx_steps(session, x_seq.numpy(), info["neuron_layers"])
    else:
        logits, *spikes = session.run(None, {"x": x_seq.numpy()})
    for got, want in zip(spikes, want_spikes, strict=True):
        np.testing.assert_array_equal(got, want.numpy())
    assert float(np.abs(spikes[1]).max()) > 1  # the 3-level layer fired more than one unit somewhere
    np.testing.assert_allclose(logits, want_logits.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["mlp", "convnet"])
def test_nir_holds_each_layers_own_node_and_simulates_to_its_spikes(kind):
    nir = peer("nir")
    from tests.engine.nir_simulator import simulate_nir

    model = prepared(kind, BINARY, calibrated=True)
    shape = MODELS[kind][0]
    folded = folded_copy(model)
    graph = model_to_nir(folded, shape)
    neurons = [node for node in graph.nodes.values() if isinstance(node, nir.LIF | nir.IF)]
    layers = [layer for _, layer in named_neuron_layers(model)]
    assert [type(node).__name__ for node in neurons] == ["IF", "LIF", "LIF"]
    for node, layer in zip(neurons, layers, strict=True):
        assert float(np.asarray(node.v_threshold).flat[0]) == pytest.approx(float(layer.threshold_value()))
        assert float(np.asarray(node.v_reset).flat[0]) == pytest.approx(layer.rule.v_reset)
    assert float(np.asarray(neurons[1].v_reset).flat[0]) == pytest.approx(-0.2)
    x_seq = inputs_away_from_threshold([model, folded], 5, BATCH, shape, scale=2.0)
    with torch.no_grad():
        logits, spikes = run_steps(model, x_seq)
    nir_logits, nir_spikes = simulate_nir(graph, x_seq.numpy())
    for got, want in zip(nir_spikes, spikes, strict=True):
        assert torch.equal(got.float(), want) and want.sum() > 0
    torch.testing.assert_close(nir_logits.float(), logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", list(MODELS))
def test_the_profile_reports_each_layers_own_settings_and_firing(kind):
    model = prepared(kind)
    x_seq = torch.rand(T, BATCH, *MODELS[kind][0], generator=torch.Generator().manual_seed(0)) * 3
    profile = profile_model(model, [(x_seq, torch.zeros(BATCH))])
    outputs = recorded(model, x_seq, "out")
    layers = named_neuron_layers(model)
    assert [row.name for row in profile.layers] == [name for name, _ in layers]
    for row, (name, layer) in zip(profile.layers, layers, strict=True):
        assert row.kind == type(layer).__name__
        assert (row.levels, row.bipolar) == (layer.rule.levels, layer.rule.bipolar)
        assert row.threshold == pytest.approx(float(layer.threshold_value()))
        assert row.beta == pytest.approx(float(layer.decay_value()))
        assert row.alpha == pytest.approx(layer.surrogate.alpha_values().double().tolist())
        assert row.histogram.edges_over_threshold == histogram_edges(layer.rule.levels)  # bins of its own D
        assert row.rate == pytest.approx(float(outputs[name].abs().mean()))
        assert row.rate > 0, name
    assert len({(row.kind, row.threshold, row.tau, row.levels, len(row.alpha)) for row in profile.layers}) == 3


@pytest.mark.parametrize("granularity", ["layer", "channel"])
@pytest.mark.parametrize("kind", ["convnet", "mlp"])
def test_the_pn_term_balances_each_layer_on_its_own_membrane(kind, granularity):
    model = prepared(kind).double().train()
    x_seq = torch.rand(T, BATCH, *MODELS[kind][0], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    objective = Objective("ce", balance=1.0, granularity=granularity)
    with observe() as seen:
        logits = model(x_seq * 3)
    got = objective(logits, torch.zeros(BATCH, dtype=torch.long), seen).balance
    # the same term from each layer's recorded input (train mode again: the same batch statistics),
    # through the reference loop with its own β, θ and firing rule
    currents = recorded(model, x_seq * 3, "in")
    terms = []
    for name, layer in named_neuron_layers(model):
        alpha = layer.surrogate.alpha_for(T, currents[name], needs_grad=False)
        beta, theta = layer.decay_value().double(), layer.threshold_value().double()
        _, positive, negative = reference_sequence(currents[name], beta, theta, alpha, layer.rule)
        count = currents[name].numel() / positive.numel()
        if granularity == "layer":
            p, m = positive.sum() / currents[name].numel(), negative.sum() / currents[name].numel()
        else:
            p, m = positive / count, negative / count
        terms.append(((p - m) / (p + m + 1e-8)).pow(2).mean())
    assert len({describe(layer) for _, layer in named_neuron_layers(model)}) == 3
    # rtol: θ read back through threshold_value() is the float32 of the recipe's value
    torch.testing.assert_close(got, torch.stack(terms).mean(), rtol=1e-6, atol=1e-12)
    assert 0 < float(got) < 1
