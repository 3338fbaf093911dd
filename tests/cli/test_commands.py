"""The commands through Typer's runner: what a researcher sees, and the exit codes."""

import json

import pytest
import tomllib
from typer.testing import CliRunner

from cfsnn_cli.cli.app import app
from tests.data.fixtures import write_cifar10
from tests.engine.helpers import write_mismatched_checkpoint

TINY = ["--set", "model.hidden=[32]", "--set", "train.epochs=2", "--set", "data.batch_size=64"]


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    result = run("train", "quickstart", *TINY, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result


def test_train_reports_epochs_and_writes_the_run_folder(trained):
    out, result = trained
    assert "epoch   2/2" in result.stdout and "final test accuracy" in result.stdout
    assert {
        "model.safetensors",
        "best.safetensors",
        "state.safetensors",
        "recipe.toml",
        "metrics.jsonl",
        "curves.png",
    } <= {p.name for p in out.iterdir()}
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_prints_exactly_the_accuracy_training_reported(trained, tmp_path):
    out, _ = trained
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    report = tmp_path / "eval.json"
    plot = tmp_path / "eval.png"
    result = run("eval", "--ckpt", out, "--json", report, "--plot", plot)
    assert result.exit_code == 0, result.output
    numbers = json.loads(report.read_text())
    assert numbers["top1"] == last["test_accuracy"] and numbers["loss"] == pytest.approx(last["test_loss"], rel=1e-6)
    assert f"{100 * last['test_accuracy']:.2f}" in result.stdout
    assert len(numbers["latency"]) == 4 and numbers["latency"][-1] == pytest.approx(numbers["top1"], abs=1 / 360)
    assert set(numbers["per_class"]) == {str(d) for d in range(10)}
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_eval_at_another_number_of_steps(trained, tmp_path):
    out, _ = trained
    report = tmp_path / "eval.json"
    assert run("eval", "--ckpt", out / "best.safetensors", "--timesteps", 7, "--json", report).exit_code == 0
    assert len(json.loads(report.read_text())["latency"]) == 7


def test_recipes_list_show_check(tmp_path):
    listed = run("recipes")
    assert listed.exit_code == 0 and "quickstart" in listed.stdout
    shown = run("recipes", "show", "quickstart", "--set", "neuron.levels=3")
    assert tomllib.loads(shown.stdout)["neuron"]["levels"] == 3
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text('extends = "quickstart"\nname = "good"\n')
    bad.write_text('name = "bad"\n[neuron]\ntau = 0\n')
    checked = run("recipes", "check", good, bad)
    assert checked.exit_code == 2
    assert f"ok: {good}" in checked.stdout
    assert (
        checked.stderr.strip()
        == f"cfsnn: error: {bad}: neuron.tau: must be >= 1 (got 0.0); tau = inf gives an integrate-and-fire neuron"
    )


def _bad_recipe(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return [path]


def _cifar_without_data(tmp_path):
    return _bad_recipe(
        tmp_path, f'name = "c"\n[data]\nkind = "cifar10"\nroot = "{tmp_path / "nowhere"}"\n[model]\nkind = "resnet20"\n'
    )


def _cifar_with_fake_files(tmp_path):
    write_cifar10(tmp_path / "cifar")
    return _bad_recipe(
        tmp_path, f'name = "c"\n[data]\nkind = "cifar10"\nroot = "{tmp_path / "cifar"}"\n[model]\nkind = "resnet20"\n'
    )


BAD_TRAIN_INPUTS = {
    "unknown key": (lambda p: _bad_recipe(p, 'name = "x"\n[train]\nepoch = 3\n'), "train.epoch: unknown option"),
    "wrong type": (
        lambda p: _bad_recipe(p, 'name = "x"\n[optim]\nlr = "fast"\n'),
        "optim.lr: input should be a valid number",
    ),
    "out of range": (
        lambda p: _bad_recipe(p, 'name = "x"\n[neuron]\nlevels = 0\n'),
        "neuron.levels: must be an integer >= 1",
    ),
    "unknown kind": (
        lambda p: _bad_recipe(p, 'name = "x"\n[model]\nkind = "gpt"\n'),
        "model.kind: unknown model 'gpt'",
    ),
    "missing recipe": (lambda p: [p / "absent.toml"], "recipe: no file"),
    "toml syntax": (lambda p: _bad_recipe(p, 'name = "x"\n[train\n'), "toml: syntax error"),
    "missing dataset root": (_cifar_without_data, "data.root: "),
    "dataset not the release": (_cifar_with_fake_files, "does not match the official cifar10 release"),
    "bad override": (
        lambda p: ["quickstart", "--set", "train.epochs=-1"],
        "train.epochs: input should be greater than or equal to 1",
    ),
}


@pytest.mark.parametrize("case", list(BAD_TRAIN_INPUTS))
def test_bad_train_input_is_one_line_exit_2_and_no_run_folder(tmp_path, case):
    make_args, words = BAD_TRAIN_INPUTS[case]
    out = tmp_path / "run"
    result = run("train", *make_args(tmp_path), "--out", out)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cfsnn: error: ") and words in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_bad_checkpoints_are_one_line_exit_2(trained, tmp_path):
    out, _ = trained
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes((out / "model.safetensors").read_bytes()[:500])
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not a checkpoint at all")
    mismatched = write_mismatched_checkpoint(out / "model.safetensors", tmp_path / "mismatched.safetensors")
    cases = [
        (truncated, "truncated or corrupt"),
        (corrupt, "truncated or corrupt"),
        (tmp_path / "none", "does not exist"),
        (mismatched, "the weights do not fit the model its recipe builds"),
    ]
    for path, words in cases:
        result = run("eval", "--ckpt", path)
        assert result.exit_code == 2 and result.stderr.startswith("cfsnn: error: --ckpt: ") and words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("CFSNN_DEBUG", "1")
    result = run("eval", "--ckpt", tmp_path / "none")
    assert result.exit_code != 0 and result.exception is not None  # raised, not printed as one line


def test_resume_refuses_a_new_recipe(trained):
    out, _ = trained
    result = run("train", "quickstart", "--resume", out)
    assert result.exit_code == 2 and "--resume: " in result.stderr


@pytest.mark.parametrize("damage", ["missing", "partial"])
def test_missing_or_partial_event_data_is_one_line_exit_2_with_nothing_left(tmp_path, damage):
    from tests.data.event_fixtures import write_nmnist

    if damage == "partial":
        write_nmnist(tmp_path / "data")
        for file in (tmp_path / "data" / "NMNIST" / "Test" / "3").iterdir():
            file.unlink()
    out, cache = tmp_path / "run", tmp_path / "cache"
    result = run(
        "train",
        "nmnist",
        "--set",
        f"data.root='{tmp_path / 'data'}'",
        "--set",
        f"data.cache_dir='{cache}'",
        "--set",
        "data.workers=0",
        "--out",
        out,
    )
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("cfsnn: error: data.root: ") and str(tmp_path / "data" / "NMNIST") in line
    assert ("is missing" if damage == "missing" else "no *.bin files for 3") in line
    assert not out.exists() and not cache.exists()


def test_out_naming_a_file_and_eval_outputs_naming_folders(trained, tmp_path):
    out, _ = trained
    a_file = tmp_path / "taken"
    a_file.write_text("mine")
    result = run("train", "quickstart", "--out", a_file)
    assert result.exit_code == 2 and "--out: " in result.stderr and a_file.read_text() == "mine"
    for option in ("--json", "--plot"):
        result = run("eval", "--ckpt", out, option, tmp_path)
        assert result.exit_code == 2 and f"{option}: {tmp_path} is a folder" in result.stderr


def test_resume_of_a_folder_without_state(tmp_path):
    result = run("train", "--resume", tmp_path)
    assert result.exit_code == 2 and result.stderr.startswith("cfsnn: error: --resume: ")
