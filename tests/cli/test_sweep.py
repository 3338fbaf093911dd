"""`cfsnn sweep` as a researcher runs it: bad input refused before anything is written, a killed
sweep resumed without repeating a finished trial, two processes sharing one SQLite storage."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from cfsnn_cli.cli.app import app
from cfsnn_cli.engine.training_state import saved_position
from cfsnn_cli.recipe import load_recipe
from tests.cli.helpers import refused
from tests.cli.test_compare import GRID, SEEDS, check_numbers_against_metrics

CFSNN = str(Path(sys.executable).parent / "cfsnn")
ENV = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TINY = ["--set", "model.hidden=[32]", "--set", "data.batch_size=64"]


def invoke(*args):
    return CliRunner().invoke(app, ["sweep", "quickstart", *map(str, args)])


@pytest.mark.parametrize(
    "args,words",
    [
        (["--grid", "neuron.kindd=cf,lif"], ["neuron.kindd", "unknown option"]),
        (["--grid", "neuron.levels=1,0"], ["neuron.levels", "--grid", "neuron.levels=0"]),
        (["--grid", "neuron.kind="], ["--grid", "empty value"]),
        (["--grid", "neuron.kind=cf", "--grid", "neuron.kind=lif"], ["--grid", "twice"]),
        (["--search", "3", "--space", "no-such-space.toml"], ["--space", "cannot read"]),
        (["--storage", "nosuchdb://x"], ["--storage", "nosuchdb"]),
        (["--storage", "sqlite:////no/such/folder/optuna.db"], ["--storage"]),
        (["--workers", "0"], ["--workers"]),
    ],
)
def test_bad_input_is_one_line_and_creates_nothing(tmp_path, args, words):
    out = tmp_path / "sweep"
    refused(invoke(*args, "--out", out), *words)
    assert not out.exists()


def test_without_optuna_the_extra_to_install_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr("cfsnn_cli.extras.installed", lambda module: module != "optuna")
    out = tmp_path / "sweep"
    refused(invoke("--out", out), 'pip install "cfsnn[sweep]"')
    assert not out.exists()


def test_a_folder_holding_another_sweep_is_refused(tmp_path):
    out = tmp_path / "sweep"
    out.mkdir()
    record = {"study": "cfsnn-quickstart-0", "definition": {"grid": {"neuron.kind": ['"cf"']}}}
    (out / "sweep.json").write_text(json.dumps(record))
    refused(invoke("--grid", "neuron.kind=lif", "--out", out), "--out", "another sweep")
    assert sorted(p.name for p in out.iterdir()) == ["sweep.json"]


def sweep_command(out, *args):
    return [CFSNN, "sweep", "quickstart", *TINY, *args, "--out", str(out)]


def trained_here(stdout: str) -> set[str]:
    """The runs a sweep process trained itself (not read finished, not left to another process)."""
    trained = set()
    for line in stdout.splitlines():
        name, _, note = line.strip().partition(": ")
        if note.startswith(("finished:", "resumed and finished:")):
            trained.add(name)
    return trained


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def epochs(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_a_killed_sweep_resumes_without_repeating_finished_trials(tmp_path):
    out = tmp_path / "sweep"
    command = sweep_command(out, "--seeds", "3", "--set", "train.epochs=4")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    started = []
    for line in process.stdout:
        if line.startswith("trial "):
            started.append(line.split()[-1])
            if len(started) == 2:
                break
    killed = out / "trials" / started[1]

    def saved_epochs() -> int:
        position = saved_position(killed)  # state files are replaced whole: never read half-written
        return 0 if position is None else position.epoch

    deadline = time.monotonic() + 120
    while saved_epochs() < 2 and time.monotonic() < deadline:  # mid-trial, past two saved epochs
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # no chance to save or tell Optuna anything
    process.wait(timeout=60)
    finished = out / "trials" / started[0]
    saved = saved_epochs()
    assert len(epochs(finished)) == 4 and 2 <= saved < 4
    kept = {name: digest(finished / name) for name in ("model.safetensors", "best.safetensors", "metrics.jsonl")}
    before = epochs(killed)

    rerun = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"starting {started[0]}" not in rerun.stdout and f"resuming {started[0]}" not in rerun.stdout
    assert kept == {name: digest(finished / name) for name in kept}
    assert f"{started[1]}: resumed and finished" in rerun.stdout
    after = epochs(killed)
    assert [m["epoch"] for m in after] == [1, 2, 3, 4]
    assert after[:saved] == before[:saved]  # the saved epochs were not trained again (their times too)

    def untimed(history):
        return [{k: v for k, v in m.items() if k not in ("seconds", "samples_per_second")} for m in history]

    # an epoch whose line was written but not its state (killed in between) is trained again, to the same numbers
    assert untimed(after[: len(before)]) == untimed(before)
    runs = sorted((out / "trials").iterdir())
    assert len(runs) == 3 and all(len(epochs(run)) == 4 for run in runs)


@pytest.mark.slow
def test_two_processes_share_one_sqlite_storage_and_compare_reports_each_runs_numbers(tmp_path):
    """Two `cfsnn sweep` processes on the 2 × 2 grid with 2 seeds train disjoint trials; `cfsnn
    compare` of the sweep then reports the numbers of each run's own metrics.jsonl."""
    out = tmp_path / "sweep"
    grid = [arg for field, values in GRID.items() for arg in ("--grid", f"{field}={','.join(values)}")]
    command = sweep_command(out, *grid, "--seeds", str(len(SEEDS)), "--set", "train.epochs=2")
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    time.sleep(1.0)  # the first makes the folder and the study; the second joins them
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    for process, (stdout, stderr) in zip((first, second), outputs, strict=True):
        assert process.returncode == 0, stdout + stderr
    trained = [trained_here(stdout) for stdout, _ in outputs]
    assert trained[0] and trained[1], "both processes trained"
    assert not trained[0] & trained[1], "no run was trained twice"
    runs = {run.name for run in (out / "trials").iterdir()}
    assert trained[0] | trained[1] == runs and len(runs) == 8

    report_path, plot = tmp_path / "compare.json", tmp_path / "compare.png"
    compare = [CFSNN, "compare", str(out), "--json", str(report_path), "--plot", str(plot)]
    result = subprocess.run(compare, capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    check_numbers_against_metrics(report, out / "trials")
    assert "model.hidden" in result.stdout and "optim.lr" in result.stdout and "neuron.kind" not in result.stdout
    for configuration in report["configurations"]:
        summary = configuration["final_test_accuracy"]
        assert f"{100 * summary['mean']:.2f} ±{100 * summary['std']:.2f}" in result.stdout
    with Image.open(plot) as image:
        assert image.format == "PNG"


@pytest.mark.slow
def test_a_search_on_two_workers_runs_its_trials_as_run_folders(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text('["optim.lr"]\nlow = 1e-3\nhigh = 1e-2\nlog = true\n\n["loss.balance"]\nchoices = [0, 0.1]\n')
    out = tmp_path / "search"
    command = sweep_command(out, "--search", "3", "--space", str(space), "--workers", "2", "--set", "train.epochs=2")
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    logs = sorted((out / "logs").iterdir())
    assert [log.name for log in logs] == ["worker-0.log", "worker-1.log"]
    runs = sorted((out / "trials").iterdir())
    assert len(runs) >= 3 and all(run.name.startswith("trial-") for run in runs)
    finished = [run for run in runs if len(epochs(run)) == 2]
    assert len(finished) >= 3
    for run in finished:  # ordinary run folders, curves and all
        with Image.open(run / "curves.png") as image:
            assert image.format == "PNG"
    drawn = set()
    for run in finished:  # each trial's recipe holds the values Optuna drew, inside the space
        recipe = load_recipe(str(run / "recipe.toml"))
        assert 1e-3 <= recipe.optim.lr <= 1e-2 and recipe.loss.balance in (0, 0.1)
        drawn.add(recipe.optim.lr)
    assert len(drawn) == len(finished)  # a draw per trial
