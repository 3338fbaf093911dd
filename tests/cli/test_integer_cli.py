"""Integer deployment through the installed `cfsnn` program: a float run fine-tuned quantised
(`train.init_from`), exported as an integer bundle (int8 weights, the recipe) and an integer ONNX
graph (integer operations only), evaluated in the integer simulator with the quantised run's very
result, profiled at int8; each mistake one line, exit code 2, nothing written."""

import json
from pathlib import Path

import pytest
from safetensors import safe_open

from tests.cli.program import assert_refused, cfsnn, sets
from tests.peers import peer

pytestmark = pytest.mark.slow  # two trainings and several commands: ~60 s

TINY = ["model.hidden=[32]", "train.epochs=1"]
QUANTISED = ["quantize.enabled=true", "quantize.weight_bits=4", "optim.lr=0.001"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """(a float quickstart run, the same fine-tuned quantised from it)."""
    root = tmp_path_factory.mktemp("integer")
    float_run, quantised_run = root / "float", root / "quantised"
    assert cfsnn("train", "quickstart", *sets(*TINY, "train.epochs=3"), "--out", float_run).returncode == 0
    started = cfsnn(
        "train", "quickstart", *sets(*TINY, *QUANTISED, f'train.init_from="{float_run / "model.safetensors"}"'),
        "--out", quantised_run,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    return float_run, quantised_run


def evaluation(path: Path, tmp_path: Path) -> dict:
    report = tmp_path / f"{path.stem}-eval.json"
    result = cfsnn("eval", "--ckpt", path, "--json", report)
    assert result.returncode == 0, result.stderr
    return json.loads(report.read_text())


def test_the_integer_bundle_evaluates_in_the_simulator_as_the_quantised_run(runs, tmp_path):
    _, quantised_run = runs
    bundle = tmp_path / "model-int.safetensors"
    exported = cfsnn("export", "--ckpt", quantised_run, "--format", "integer", "--out", bundle)
    assert exported.returncode == 0, exported.stderr
    with safe_open(str(bundle), "pt") as handle:
        metadata = handle.metadata()
        weights = {name: handle.get_tensor(name) for name in handle.keys() if name.endswith(".weight")}
        program = json.loads(metadata["integer_program"])
    assert json.loads(metadata["recipe"])["quantize"]["weight_bits"] == 4
    integer_weights = [value for name, value in weights.items() if name.startswith("program.")]
    assert len(integer_weights) == 2 and all(str(value.dtype) == "torch.int8" for value in integer_weights)
    assert max(int(value.abs().max()) for value in integer_weights) == 7  # 4 bits, symmetric
    assert [op["op"] for op in program["ops"]] == ["input", "flatten", "linear", "neuron", "linear"]
    simulated = cfsnn("eval", "--ckpt", bundle)
    assert "integer simulator" in simulated.stdout
    from_bundle, from_run = evaluation(bundle, tmp_path), evaluation(quantised_run / "model.safetensors", tmp_path)
    for field in ("top1", "per_class", "latency", "firing_rate", "layer_firing_rates"):
        assert from_bundle[field] == from_run[field], field
    # fine-tuned at 4 bits for one epoch, it keeps what the float run learnt (92.5 % here)
    assert from_run["top1"] >= evaluation(runs[0] / "model.safetensors", tmp_path)["top1"] - 0.03
    profile = tmp_path / "profile.json"
    assert cfsnn("profile-spikes", "--ckpt", bundle, "--json", profile).returncode == 0
    assert json.loads(profile.read_text())["energy"]["preset"] == "int8"


def test_the_integer_onnx_graph_computes_in_integers(runs, tmp_path):
    onnx = peer("onnx")
    _, quantised_run = runs
    path = tmp_path / "model-int.onnx"
    exported = cfsnn(
        "export", "--ckpt", quantised_run, "--format", "integer-onnx", "--onnx-mode", "unrolled", "--out", path
    )
    assert exported.returncode == 0, exported.stderr
    graph = onnx.load(str(path)).graph
    kinds = {node.op_type for node in graph.node}
    assert "MatMulInteger" in kinds and not kinds & {"MatMul", "Gemm", "Conv"}
    floats = [node.op_type for node in graph.node if node.op_type in ("Div", "Round", "Clip")]
    assert floats.count("Round") == 4  # the input's quantisation, once per step of T = 4: nothing else rounds


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["quantize.enabled=true", "quantize.weight_bits=9"], ["quantize.weight_bits", "8"]),
        (["quantize.enabled=true", "model.kind=rsnn"], ["integer path", "recurrent"]),
        (["quantize.enabled=true", 'train.init_from="missing.safetensors"'], ["train.init_from", "missing"]),
    ],
)
def test_a_bad_quantisation_is_refused_before_anything_is_written(overrides, words, tmp_path):
    out = tmp_path / "run"
    assert_refused(cfsnn("train", "quickstart", *sets(*TINY, *overrides), "--out", out), *words)
    assert not out.exists()


def test_an_integer_export_of_a_float_checkpoint_and_a_float_export_of_a_quantised_one_are_refused(runs, tmp_path):
    float_run, quantised_run = runs
    for fmt, name in (("integer", "int.safetensors"), ("integer-onnx", "int.onnx")):
        out = tmp_path / name
        line = assert_refused(cfsnn("export", "--ckpt", float_run, "--format", fmt, "--out", out), "float")
        assert "quantize.enabled" in line
        assert not out.exists()
    out = tmp_path / "float.nir"
    assert_refused(cfsnn("export", "--ckpt", quantised_run, "--format", "nir", "--out", out), "quantised", "integer")
    assert not out.exists()


def test_a_start_that_does_not_fit_is_refused(runs, tmp_path):
    float_run, quantised_run = runs
    bundle = tmp_path / "folded.safetensors"
    assert cfsnn("export", "--ckpt", float_run, "--format", "safetensors", "--out", bundle).returncode == 0
    starts = [
        (bundle, TINY + QUANTISED, ["inference bundle"]),
        (float_run / "model.safetensors", ["model.hidden=[64]", "train.epochs=1", *QUANTISED], ["do not fit"]),
        (quantised_run / "model.safetensors", TINY, ["quantised", "float run"]),
        (quantised_run / "model.safetensors", [*TINY, *QUANTISED, "quantize.weight_bits=8"], ["other [quantize]"]),
    ]
    for start, overrides, words in starts:
        out = tmp_path / "run"
        result = cfsnn("train", "quickstart", *sets(*overrides, f'train.init_from="{start}"'), "--out", out)
        assert_refused(result, "train.init_from", *words)
        assert not out.exists()
