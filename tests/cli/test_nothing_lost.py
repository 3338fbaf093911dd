"""No output of any command replaces what a run folder or a sweep folder holds, nor writes one kind of
file under another kind's name: each path a newcomer's walk found destroying a run or a sweep with
exit code 0, through the installed `cfsnn`, is now one line with exit code 2 and nothing changed."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cfsnn_cli.cli.output_paths import FileKind, Output, check_outputs
from cfsnn_cli.engine import run_folder
from cfsnn_cli.errors import CfsnnError

CFSNN = str(Path(sys.executable).parent / "cfsnn")
ENV = {**os.environ, "COLUMNS": "120", "OMP_NUM_THREADS": "1"}
TINY = ["--set", "train.epochs=1", "--set", "model.hidden=[16]"]


def cfsnn(*args):
    return subprocess.run([CFSNN, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300)


def refused_in_one_line(result, *words) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("cfsnn: error: ") and "Traceback" not in result.stderr, line
    for word in words:
        assert str(word) in line, (word, line)


def contents(folder: Path) -> dict[str, str]:
    """Every file under `folder` by its path, as a digest of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A run folder and a sweep folder of one trial, each made by the real command."""
    base = tmp_path_factory.mktemp("kept")
    run, sweep = base / "run", base / "sweep"
    trained = cfsnn("train", *TINY, "--out", run)
    assert trained.returncode == 0, trained.stderr
    swept = cfsnn("sweep", "quickstart", *TINY, "--grid", "neuron.levels=1", "--out", sweep)
    assert swept.returncode == 0, swept.stderr
    assert [path.name for path in (sweep / "trials").glob("*/curves.png")] == ["curves.png"]
    return run, sweep


DATA_LOSS_PATHS = [
    # (command line, with RUN and SWEEP standing for the folders; the option refused; its path)
    ("compare SWEEP --json SWEEP/sweep.json", "--json", "SWEEP/sweep.json"),
    ("compare SWEEP --json SWEEP/optuna.db", "--json", "SWEEP/optuna.db"),
    ("profile-spikes --ckpt RUN --samples 8 --json RUN/metrics.jsonl", "--json", "RUN/metrics.jsonl"),
    ("profile-spikes --ckpt RUN --samples 8 --json RUN/recipe.toml", "--json", "RUN/recipe.toml"),
    ("eval --ckpt RUN --json RUN/metrics.jsonl", "--json", "RUN/metrics.jsonl"),
    ("eval --ckpt RUN --json RUN/recipe.toml", "--json", "RUN/recipe.toml"),
    ("export --ckpt RUN --format onnx --out RUN/recipe.toml", "--out", "RUN/recipe.toml"),
    ("compare RUN --plot RUN/curves.png", "--plot", "RUN/curves.png"),
    ("eval --ckpt RUN --plot RUN/curves.png", "--plot", "RUN/curves.png"),
    ("export --ckpt SWEEP/trials/neuron.levels=1 --format onnx --out OUT/x.nir", "--out", "OUT/x.nir"),
    ("export --ckpt RUN --format safetensors --out OUT/x.onnx", "--out", "OUT/x.onnx"),
    ("export --ckpt RUN --format nir --out OUT/x.onnx", "--out", "OUT/x.onnx"),
]


@pytest.mark.parametrize(("command", "option", "path"), DATA_LOSS_PATHS, ids=[case[0] for case in DATA_LOSS_PATHS])
def test_an_output_never_replaces_a_folders_file_nor_takes_another_kinds_name(folders, tmp_path, command, option, path):
    run, sweep = folders
    trial = next((sweep / "trials").iterdir()).name
    spell = {"RUN": str(run), "SWEEP": str(sweep), "OUT": str(tmp_path), "neuron.levels=1": trial}

    def spelled(text: str) -> str:
        for placeholder, value in spell.items():
            text = text.replace(placeholder, value)
        return text

    before = contents(run) | contents(sweep)
    refused_in_one_line(cfsnn(*spelled(command).split()), option, spelled(path))
    assert contents(run) | contents(sweep) == before
    assert not list(tmp_path.iterdir())


def test_the_folders_still_work_after_every_refusal(folders):
    run, sweep = folders
    compared = cfsnn("compare", run, sweep)
    assert compared.returncode == 0, compared.stderr
    resumed = cfsnn("sweep", "quickstart", *TINY, "--grid", "neuron.levels=1", "--out", sweep)
    assert resumed.returncode == 0 and "1 of 1 runs finished" in resumed.stdout, resumed.stderr


def test_replacing_a_file_of_the_same_kind_outside_the_folders_is_said(folders, tmp_path):
    run, _ = folders
    graph = tmp_path / "model.onnx"
    first = cfsnn("export", "--ckpt", run, "--format", "onnx", "--out", graph)
    assert first.returncode == 0 and "replaces" not in first.stderr, first.stderr
    second = cfsnn("export", "--ckpt", run, "--format", "onnx", "--onnx-mode", "unrolled", "--out", graph)
    assert second.returncode == 0, second.stderr
    assert second.stderr.strip().splitlines() == [f"cfsnn: --out replaces the existing ONNX file {graph}"]


def test_a_sweeps_trials_and_a_runs_board_are_the_folders_own(folders, tmp_path):
    run, sweep = folders
    refused_in_one_line(cfsnn("eval", "--ckpt", run, "--json", sweep / "trials" / "mine.json"), "--json", "sweep")
    refused_in_one_line(cfsnn("train", *TINY, "--out", sweep / "trials" / "mine"), "--out", "trials")
    refused_in_one_line(
        cfsnn("sweep", "quickstart", "--storage", f"sqlite:///{run / 'metrics.jsonl'}", "--out", tmp_path / "s"),
        "--storage",
        "metrics.jsonl",
    )
    assert not (sweep / "trials" / "mine").exists() and not (tmp_path / "s").exists()


# -- the rule's one source ------------------------------------------------------------------------


def test_every_name_a_folder_gains_is_owned():
    """A file name constant added to engine/run_folder.py is protected or this test fails."""
    names = {
        value
        for name, value in vars(run_folder).items()
        if name.isupper() and name.endswith(("_FILE", "_FOLDER", "_DATABASE")) and isinstance(value, str)
    }
    assert names and names <= run_folder.RUN_OWNED | run_folder.SWEEP_OWNED


@pytest.mark.parametrize("name", sorted(run_folder.RUN_OWNED | run_folder.SWEEP_OWNED))
def test_every_owned_name_is_refused_whatever_its_suffix(folders, name):
    run, sweep = folders
    folder = run if name in run_folder.RUN_OWNED else sweep
    path = folder / name
    if "." not in name:  # a folder of its own (tb, trials, locks, logs): a file anywhere inside it
        path = path / "inside.json"
    any_suffix = Output(path, FileKind("any", (path.suffix.lower(),), lambda start: True))
    with pytest.raises(CfsnnError, match=r"belongs to the (run|sweep) folder"):
        check_outputs({"--x": any_suffix}, reads=[])
