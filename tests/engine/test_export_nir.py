"""NIR export: hard-reset LIF/IF chains written exactly — the file read back with `nir.read` and
simulated here from NIR's own equations (not cfsnn's neuron code) gives the original spikes — and
every model NIR cannot express refused with the reason. snnTorch's importer is compared too, and
where it disagrees with NIR's equations the test says so."""

import pytest
import torch

from cfsnn_cli.engine.export.bundle import folded_copy
from cfsnn_cli.engine.export.nir import model_to_nir
from cfsnn_cli.engine.step import run_steps
from cfsnn_cli.errors import CfsnnError
from tests.engine.export_helpers import inputs_away_from_threshold, model_with_statistics
from tests.engine.nir_simulator import simulate_nir
from tests.peers import peer

nir = peer("nir")

CHAINS = {
    "mlp": ((1, 8, 8), {"hidden": [24, 16]}),
    "convnet": ((2, 8, 8), {"channels": [4, 8], "hidden": 16}),
    "rsnn": ((6,), {"hidden": [12, 10]}),
}
EXACT_NEURONS = {
    "lif-hard": ("lif", {"reset": "hard", "tau": 2.0, "threshold": 0.8}),
    "lif-hard-vreset": ("lif", {"reset": "hard", "tau": 4.0, "v_reset": -0.2}),
    "if-hard": ("if", {"reset": "hard"}),
}


@pytest.mark.parametrize("neuron", list(EXACT_NEURONS))
@pytest.mark.parametrize("kind", list(CHAINS))
def test_nir_file_simulated_from_nirs_equations_gives_the_same_spikes(kind, neuron, tmp_path):
    shape, options = CHAINS[kind]
    model = model_with_statistics(kind, shape, *EXACT_NEURONS[neuron], **options)
    folded = folded_copy(model)
    path = tmp_path / "net.nir"
    nir.write(path, model_to_nir(folded, shape))
    graph = nir.read(path)
    assert {type(n).__name__ for n in graph.nodes.values()} <= {
        "Input", "Output", "Affine", "Linear", "Conv2d", "Flatten", "AvgPool2d", "LIF", "IF"
    }  # fmt: skip
    x_seq = inputs_away_from_threshold([model, folded], 5, 3, shape, scale=2.0)
    with torch.no_grad():
        logits, spikes = run_steps(model, x_seq)
    nir_logits, nir_spikes = simulate_nir(graph, x_seq.numpy())
    assert len(nir_spikes) == len(spikes)
    assert sum(s.sum().item() for s in spikes) > 0
    for got, want in zip(nir_spikes, spikes, strict=True):
        assert torch.equal(got.float(), want)
    torch.testing.assert_close(nir_logits.float(), logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "kind,neuron,reason",
    [
        ("mlp", ("cf", {}), "signed or multi-level"),
        ("mlp", ("cf", {"bipolar": False, "levels": 2}), "signed or multi-level"),
        ("mlp", ("cf", {"bipolar": False}), "soft reset"),  # levels 1, unipolar: still subtractive
        ("mlp", ("lif", {"reset": "soft"}), "soft reset"),
        ("mlp", ("plif", {"reset": "soft"}), "soft reset"),
        ("mlp", ("lif", {"reset": "hard", "v_init": 0.3}), "v_init"),
        ("resnet20", ("lif", {"reset": "hard"}), "not a plain chain"),
        ("vgg11", ("lif", {"reset": "hard"}), "not a plain chain"),
    ],
)
def test_models_nir_cannot_express_are_refused_with_the_reason(kind, neuron, reason):
    shape = {"mlp": (1, 8, 8), "resnet20": (3, 8, 8), "vgg11": (2, 32, 32)}[kind]
    model = model_with_statistics(kind, shape, *neuron)
    with pytest.raises(CfsnnError, match=reason) as caught:
        model_to_nir(folded_copy(model), shape)
    assert caught.value.field == "fmt" and "\n" not in str(caught.value)


def snntorch_run(graph, x_seq: torch.Tensor) -> torch.Tensor:
    """Run snnTorch's `import_from_nir` model over time (its Leaky layers keep their membranes)."""
    from snntorch.import_nir import import_from_nir

    net = import_from_nir(graph)
    state, outputs = None, []
    with torch.no_grad():
        for x_t in x_seq:
            out, state = net(x_t) if state is None else net(x_t, state)
            outputs.append(out)
    return torch.stack(outputs)


def test_snntorch_import_agrees_for_lif_where_its_importer_follows_nir(tmp_path):
    peer("snntorch")
    shape = (1, 8, 8)
    model = model_with_statistics("mlp", shape, *EXACT_NEURONS["lif-hard"], hidden=[24, 16])
    path = tmp_path / "net.nir"
    nir.write(path, model_to_nir(folded_copy(model), shape))
    graph = nir.read(path)
    x_seq = inputs_away_from_threshold(model, 6, 1, shape, scale=2.0)
    with torch.no_grad():
        logits, spikes = run_steps(model, x_seq)
    assert sum(s.sum().item() for s in spikes) > 0
    # batch 1: identical. snnTorch 1.0 maps LIF to Leaky(β = 1 − dt/τ, reset to zero), as NIR says.
    torch.testing.assert_close(snntorch_run(graph, x_seq), logits[:, 0], rtol=1e-5, atol=1e-5)


def test_snntorch_import_disagreements_with_nir_are_documented(tmp_path):
    """Where snnTorch 1.0's importer departs from NIR 1.0 (docs/export.md, "Known importer gaps")."""
    peer("snntorch")
    shape = (1, 8, 8)
    model = model_with_statistics("mlp", shape, *EXACT_NEURONS["lif-hard"], hidden=[24, 16])
    graph = model_to_nir(folded_copy(model), shape)
    # 1. NIR's Flatten dims index the shape without the batch (start_dim = 0 here); snnTorch applies
    #    them to the batched tensor, so a batch of 3 is flattened into one vector and the Linear fails.
    x_seq = torch.rand(2, 3, *shape)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(1x192 and 64x24\)"):
        snntorch_run(graph, x_seq)  # 1 x (3 samples · 64 pixels): the whole batch became one row
    # 2. NIR's IF (dv/dt = r·I, here r = 1/dt) is refused by its importer (it asserts r = 1) and
    #    would become a leaky Leaky(β = 0.9) if it were accepted.
    if_model = model_with_statistics("mlp", shape, *EXACT_NEURONS["if-hard"], hidden=[24, 16])
    with pytest.raises(AssertionError, match="r != 1"):
        snntorch_run(model_to_nir(folded_copy(if_model), shape), torch.rand(2, 1, *shape))


def test_a_potential_exactly_on_the_threshold_fires_in_cfsnn_and_not_in_nir():
    """cfsnn fires at H ≥ θ (floor(H/θ) ≥ 1), NIR at v > θ: they differ only at exact equality."""
    from cfsnn_cli.models.blocks import TimeFolded
    from cfsnn_cli.neurons import build_neuron

    linear = torch.nn.Linear(1, 1)
    with torch.no_grad():
        linear.weight.fill_(1.0)
        linear.bias.zero_()
    model = torch.nn.Sequential(TimeFolded(linear), build_neuron("if", reset="hard", threshold=1.0)).eval()
    x_seq = torch.ones(1, 1, 1)  # H = θ exactly
    _, spikes = run_steps(model, x_seq)
    _, nir_spikes = simulate_nir(model_to_nir(model, (1,)), x_seq.numpy())
    assert spikes[0].item() == 1 and nir_spikes[0].item() == 0


def test_vggsnn_is_a_chain_nir_takes():
    model = model_with_statistics("vggsnn", (2, 16, 16), *EXACT_NEURONS["lif-hard"])
    graph = model_to_nir(folded_copy(model), (2, 16, 16))
    kinds = [type(node).__name__ for node in graph.nodes.values()]
    assert kinds.count("LIF") == 8 and kinds.count("Conv2d") == 8 and kinds.count("AvgPool2d") == 4
