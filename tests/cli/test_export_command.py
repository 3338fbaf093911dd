"""`cfsnn export`: each format written from a checkpoint, and every bad input one line, exit code 2,
no file left behind."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from cfsnn_cli.cli.app import app
from cfsnn_cli.engine.train import train
from cfsnn_cli.recipe import load_recipe
from tests.engine.helpers import tiny_recipe
from tests.peers import peer

pytestmark = pytest.mark.slow  # every test here exports checkpoints trained for it by the real CLI

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *words: str) -> str:
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("cfsnn: error: ") and "Traceback" not in result.output, line
    for word in words:
        assert word in line, line
    return line


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny quickstart (CF neurons) and a tiny hard-reset LIF version of it, trained one epoch."""
    root = tmp_path_factory.mktemp("export")
    text = (ROOT / "recipes" / "quickstart.toml").read_text()
    start, end = text.index("[neuron]"), text.index("[surrogate]")
    lif = root / "lif.toml"
    lif.write_text(text[:start] + '[neuron]\nkind = "lif"\nreset = "hard"\n\n' + text[end:])
    train(tiny_recipe("train.epochs=1"), root / "cf")
    train(load_recipe(str(lif), ["model.hidden=[32]", "train.epochs=1", "data.batch_size=64"]), root / "lif")
    return root


@pytest.mark.parametrize(
    "fmt,extra,suffix",
    [
        ("safetensors", [], ".safetensors"),
        ("onnx", [], ".onnx"),
        ("onnx", ["--onnx-mode", "unrolled", "--timesteps", "2", "--opset", "20"], ".onnx"),
        ("nir", [], ".nir"),
    ],
)
def test_each_format_is_written(runs, tmp_path, fmt, extra, suffix):
    if fmt != "safetensors":
        peer(fmt)
    ckpt = runs / ("lif" if fmt == "nir" else "cf")
    out = tmp_path / f"model{suffix}"
    result = run("export", "--ckpt", ckpt, "--format", fmt, "--out", out, *extra)
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.stat().st_size > 0 and f"wrote {out}" in " ".join(result.output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left
    if fmt == "onnx":
        import onnx

        graph = onnx.load(str(out)).graph
        assert graph.input[0].name == "x"
        assert ("unrolled" in extra) == (len(graph.input) == 1)
        props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
        assert json.loads(props["cfsnn_recipe"])["name"] == "quickstart" and props["cfsnn_v_init"] == "[0.0]"
    if fmt == "nir":
        import nir

        assert {type(n).__name__ for n in nir.read(out).nodes.values()} == {
            "Input",
            "Output",
            "Affine",
            "Flatten",
            "LIF",
        }


def test_the_bundle_is_evaluated_like_a_checkpoint(runs, tmp_path):
    bundle = tmp_path / "bundle.safetensors"
    assert run("export", "--ckpt", runs / "cf", "--format", "safetensors", "--out", bundle).exit_code == 0
    again = tmp_path / "again.safetensors"  # a bundle exported from a bundle is still read back
    assert run("export", "--ckpt", bundle, "--format", "safetensors", "--out", again).exit_code == 0
    reports = []
    for ckpt in (runs / "cf", bundle, again):
        report = tmp_path / f"eval-{len(reports)}.json"
        result = run("eval", "--ckpt", ckpt, "--json", report)
        assert result.exit_code == 0, result.output
        reports.append(json.loads(report.read_text()))
    assert reports[0]["top1"] == pytest.approx(reports[1]["top1"], abs=1 / reports[0]["samples"])
    assert reports[1]["top1"] == reports[2]["top1"]


def test_bad_inputs_are_one_line_and_leave_no_file(runs, tmp_path, monkeypatch):
    out = tmp_path / "out.onnx"
    cf = runs / "cf"
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    cases = [
        (["--format", "tflite"], ["--format", "tflite"]),
        (["--format", "onnx", "--onnx-mode", "scan"], ["--onnx-mode"]),
        (["--format", "onnx", "--onnx-mode", "unrolled", "--timesteps", "0"], ["--timesteps", "got 0"]),
        (["--format", "onnx", "--timesteps", "4"], ["--timesteps", "unrolled"]),
        (["--format", "onnx", "--opset", "9"], ["--opset"]),
        (["--format", "nir", "--out", str(tmp_path / "out.nir")], ["nir cannot express", "signed or multi-level"]),
    ]
    for options, words in cases:
        assert_one_line_error(run("export", "--ckpt", cf, "--out", out, *options), *words)
    assert_one_line_error(run("export", "--ckpt", foreign, "--format", "onnx", "--out", out), "not written by cfsnn")
    assert_one_line_error(run("export", "--ckpt", tmp_path / "nothing", "--format", "onnx", "--out", out), "nothing")
    missing = tmp_path / "no" / "such" / "folder" / "out.onnx"
    assert_one_line_error(run("export", "--ckpt", cf, "--format", "onnx", "--out", missing), "does not exist")
    own = cf / "model.safetensors"
    assert_one_line_error(run("export", "--ckpt", cf, "--format", "safetensors", "--out", own), "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.safetensors"]


@pytest.mark.parametrize("fmt", ["onnx", "nir"])
def test_a_missing_extra_names_the_pip_command(runs, tmp_path, monkeypatch, fmt):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == fmt else real(name, *a))
    out = tmp_path / "out"
    assert_one_line_error(
        run("export", "--ckpt", runs / "lif", "--format", fmt, "--out", out), f'pip install "cfsnn[{fmt}]"'
    )
    assert not out.exists()
