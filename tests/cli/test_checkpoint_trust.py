"""A checkpoint is a file people download and share: it says what the model is, never where this
machine reads, writes or downloads (tested through the installed `cfsnn` with the network guarded),
and a byte changed anywhere in it is refused, never evaluated."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from typer.testing import CliRunner

from cfsnn_cli.cli.app import app
from cfsnn_cli.engine.build import build_model
from cfsnn_cli.engine.model_file import save_model
from cfsnn_cli.engine.safetensors_file import DIGEST_KEY, HEADER_LENGTH_BYTES
from cfsnn_cli.recipe import load_recipe
from tests.cli.helpers import refused
from tests.cli.network import connections_tried, guarded_environment
from tests.data.event_fixtures import write_nmnist

CFSNN = str(Path(sys.executable).parent / "cfsnn")
NMNIST_SHAPE, DIGITS = (2, 34, 34), [str(digit) for digit in range(10)]


@pytest.fixture(scope="module")
def steering(tmp_path_factory):
    """An N-MNIST checkpoint whose recipe names a data root, a cache folder and a download, all
    under `elsewhere`, and the real (tiny) dataset in `data`."""
    base = tmp_path_factory.mktemp("steering")
    elsewhere = base / "elsewhere"
    recipe = load_recipe(
        "nmnist",
        [
            "model.channels=[4, 8]",
            "model.hidden=16",
            "data.timesteps=4",
            "data.workers=2",
            f"data.root='{elsewhere / 'root'}'",
            f"data.cache_dir='{elsewhere / 'cache'}'",
            "data.download=true",
        ],
    )
    torch.manual_seed(0)
    model = build_model(recipe, NMNIST_SHAPE, len(DIGITS))
    checkpoint = base / "shared.safetensors"
    save_model(checkpoint, model, recipe, 1, 0, {"test_accuracy": 0.1}, NMNIST_SHAPE, DIGITS)
    return checkpoint, write_nmnist(base / "data"), elsewhere, base


def cfsnn(log: Path, *args, **environment):
    return subprocess.run(
        [CFSNN, *map(str, args)],
        capture_output=True,
        text=True,
        env=guarded_environment(log, OMP_NUM_THREADS="1", COLUMNS="120", **environment),
        timeout=300,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["eval", "--ckpt", "CKPT", "--data-root", "DATA"],
        ["profile-spikes", "--ckpt", "CKPT", "--data-root", "DATA", "--samples", "6"],
        ["eval", "--ckpt", "CKPT"],  # the data root from $CFSNN_DATA_ROOT
        ["export", "--ckpt", "CKPT", "--format", "safetensors", "--out", "OUT/bundle.safetensors"],
        ["export", "--ckpt", "CKPT", "--format", "onnx", "--out", "OUT/model.onnx"],
    ],
    ids=["eval", "profile-spikes", "eval-environment", "export-safetensors", "export-onnx"],
)
def test_a_checkpoint_never_chooses_where_this_machine_reads_writes_or_downloads(steering, tmp_path, command):
    checkpoint, data, elsewhere, _ = steering
    spelled = [{"CKPT": str(checkpoint), "DATA": str(data)}.get(a, a.replace("OUT", str(tmp_path))) for a in command]
    log, cache_home = tmp_path / "connections.log", tmp_path / "xdg"
    result = cfsnn(log, *spelled, XDG_CACHE_HOME=str(cache_home), CFSNN_DATA_ROOT=str(data))
    assert result.returncode == 0, result.stderr
    assert not elsewhere.exists()
    assert connections_tried(log) == []
    if command[0] != "export":  # the frames went to this machine's default cache, and it was said why
        assert (cache_home / "cfsnn" / "frames" / "nmnist").is_dir()
        [note] = [line for line in result.stderr.splitlines() if line.startswith("cfsnn: note: ")]
        for stored in ("data.root", "data.cache_dir", "data.download = True", "set aside"):
            assert stored in note, note


def test_without_a_data_root_the_checkpoints_is_not_used_and_nothing_downloads(steering, tmp_path):
    checkpoint, _, elsewhere, _ = steering
    log = tmp_path / "connections.log"
    result = cfsnn(log, "eval", "--ckpt", checkpoint, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert result.returncode == 2, result.stderr
    [error] = [line for line in result.stderr.splitlines() if not line.startswith("cfsnn: note: ")]
    assert error.startswith("cfsnn: error: --data-root: ") and "Traceback" not in result.stderr, error
    assert not elsewhere.exists() and connections_tried(log) == []


def test_compare_reads_a_run_folders_recipe_and_nothing_it_names(steering, tmp_path):
    _, _, elsewhere, _ = steering
    run = tmp_path / "run"
    run.mkdir()
    recipe = load_recipe("nmnist", [f"data.root='{elsewhere}'", f"data.cache_dir='{elsewhere}'", "data.download=true"])
    (run / "recipe.toml").write_text(recipe.to_toml())
    (run / "metrics.jsonl").write_text('{"epoch": 1, "test_accuracy": 0.5, "seconds": 1.0}\n')
    log = tmp_path / "connections.log"
    result = cfsnn(log, "compare", run, "--json", tmp_path / "compare.json")
    assert result.returncode == 0, result.stderr
    assert not elsewhere.exists() and connections_tried(log) == []


# -- corruption ----------------------------------------------------------------------------------


def flipped(source: Path, target: Path, where: str) -> Path:
    """A copy of `source` with one byte changed: inside the first tensor's data, inside a metadata
    value (the recipe), or in the header's structure (its opening brace)."""
    data = bytearray(source.read_bytes())
    header_end = HEADER_LENGTH_BYTES + int.from_bytes(data[:HEADER_LENGTH_BYTES], "little")
    position = {
        "tensor": header_end + 5,
        "metadata": bytes(data).index(b"hidden"),
        "structure": HEADER_LENGTH_BYTES,
    }[where]
    data[position] ^= 0x01
    target.write_bytes(bytes(data))
    return target


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("trust") / "run"
    result = CliRunner().invoke(
        app, ["train", "--set", "train.epochs=2", "--set", "model.hidden=[16]", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("where", ["tensor", "metadata"])
@pytest.mark.parametrize("command", ["eval", "profile-spikes", "export"])
def test_one_changed_byte_is_refused_by_every_command(trained_run, tmp_path, where, command):
    bad = flipped(trained_run / "model.safetensors", tmp_path / "model.safetensors", where)
    more = ["--format", "onnx", "--out", str(tmp_path / "x.onnx")] if command == "export" else []
    line = refused(CliRunner().invoke(app, [command, "--ckpt", str(bad), *more]), "--ckpt", str(bad))
    assert "corrupt: digest mismatch" in line
    assert not (tmp_path / "x.onnx").exists()


def test_a_changed_byte_in_the_header_structure_is_refused_as_before(trained_run, tmp_path):
    bad = flipped(trained_run / "model.safetensors", tmp_path / "model.safetensors", "structure")
    line = refused(CliRunner().invoke(app, ["eval", "--ckpt", str(bad)]), "--ckpt", str(bad))
    assert "not a readable safetensors file" in line


def test_resume_refuses_a_changed_state(trained_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for path in trained_run.iterdir():
        if path.is_file():
            (run / path.name).write_bytes(path.read_bytes())
    flipped(trained_run / "state.safetensors", run / "state.safetensors", "tensor")
    refused(CliRunner().invoke(app, ["train", "--resume", str(run)]), "--resume", "corrupt: digest mismatch")
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2


def test_a_checkpoint_from_before_digests_loads_and_is_said_unverified(trained_run, tmp_path):
    source = trained_run / "model.safetensors"
    with safe_open(str(source), "pt") as handle:
        metadata = {key: value for key, value in handle.metadata().items() if key != DIGEST_KEY}
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    old = tmp_path / "old.safetensors"
    save_file(tensors, str(old), metadata=metadata)
    result = CliRunner().invoke(app, ["eval", "--ckpt", str(old)])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("cfsnn: note: ")]
    assert notes == [f"cfsnn: note: {old} carries no digest (an earlier cfsnn wrote it): read unverified"]
    fresh = CliRunner().invoke(app, ["eval", "--ckpt", str(source)])
    assert fresh.exit_code == 0 and "note" not in fresh.stderr and os.path.getsize(source) > 0
