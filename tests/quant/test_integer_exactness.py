"""The integer program computes the fake-quantised model's spikes: on every spike of every layer,
over the whole digits test split, the PyTorch model, the NumPy integer simulator and the integer
ONNX graph in onnxruntime agree, for the convnet and ResNet-20 with CF neurons (one and three
levels) and LIF, the decay rounded each of the three ways, max pools, learned β and θ and a
non-zero V_0; and every layer fires, so no layer is compared silent against silent."""

import numpy as np
import pytest
import torch

from cfsnn_cli.quant.settings import Quantization
from cfsnn_cli.quant.simulator import simulate
from tests.peers import peer
from tests.quant.integer_helpers import (
    digits_batches,
    onnx_session,
    onnx_step_run,
    program_of,
    quantised_model,
    torch_spikes,
)

pytestmark = pytest.mark.slow  # the whole test split through three runtimes: seconds per case

peer("onnxruntime")

CASES = [
    ("convnet", "cf1", Quantization(weight_bits=8)),
    ("convnet", "cf3", Quantization(weight_bits=4, per_channel=False, leak_rounding="toward_zero")),
    ("convnet", "lif", Quantization(weight_bits=8, membrane_bits=16, leak_rounding="leak_floor")),
    ("resnet20", "cf1", Quantization(weight_bits=8)),
    ("resnet20", "cf3", Quantization(weight_bits=4)),
    ("resnet20", "lif", Quantization(weight_bits=8)),
    ("mlp", "lif-hard", Quantization(weight_bits=2, leak_bits=4, leak_rounding="toward_zero")),
    ("max_pool_chain", "cf-learned", Quantization(weight_bits=6)),
]


@pytest.mark.parametrize(("kind", "neuron", "settings"), CASES, ids=[f"{k}-{n}" for k, n, _ in CASES])
def test_simulator_and_onnx_give_the_fake_quantised_spikes_on_the_test_split(kind, neuron, settings):
    model = quantised_model(kind, neuron, settings)
    program = program_of(model, settings)
    session, _ = onnx_session(program, "unrolled", 4)
    layers = len(program.neuron_ops())
    events, neurons = np.zeros(layers), np.zeros(layers)
    samples = 0
    for x_seq, _ in digits_batches():
        want = torch_spikes(model, program, x_seq)
        with torch.no_grad():
            want_logits = model(x_seq).double().numpy()
        simulated = simulate(program, x_seq.numpy())
        onnx_logits, *onnx_spikes = session.run(None, {"x": x_seq.numpy()})
        for index in range(layers):
            np.testing.assert_array_equal(simulated.spikes[index], want[index], err_msg=f"simulator, layer {index}")
            np.testing.assert_array_equal(onnx_spikes[index], want[index], err_msg=f"onnx, layer {index}")
            events[index] += np.abs(want[index].astype(np.int64)).sum()
            neurons[index] += want[index].size
        np.testing.assert_array_equal(onnx_logits, simulated.logits)
        # the readout is an integer accumulator times one unit: the float model's logits are it
        np.testing.assert_allclose(simulated.logits * program.output_unit, want_logits, rtol=1e-6, atol=1e-6)
        samples += x_seq.shape[1]
    assert samples == 360  # the whole split
    rates = events / neurons
    levels = max(op["levels"] for op in program.neuron_ops())
    assert rates.min() > 0.005, f"a layer hardly fires: {np.round(rates, 4)}"
    assert rates.max() < 0.9 * levels, f"a layer fires at its ceiling: {np.round(rates, 4)}"


@pytest.mark.parametrize("kind", ["convnet", "resnet20"])
def test_the_step_graph_looped_by_the_caller_gives_the_same_spikes(kind):
    settings = Quantization(weight_bits=8)
    model = quantised_model(kind, "cf3", settings)
    program = program_of(model, settings)
    session, blob = onnx_session(program, "step", 4)
    x_seq, _ = next(iter(digits_batches()))
    simulated = simulate(program, x_seq.numpy())
    logits, spikes = onnx_step_run(session, blob, x_seq.numpy())
    np.testing.assert_array_equal(logits, simulated.logits)
    for index, layer in enumerate(spikes):
        np.testing.assert_array_equal(layer, simulated.spikes[index], err_msg=f"layer {index}")
