"""The installed `cfsnn` program, run as a researcher runs it."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CFSNN = str(Path(sys.executable).parent / "cfsnn")
ENV = {**os.environ, "COLUMNS": "120", "OMP_NUM_THREADS": "2"}


def test_help_answers_without_importing_torch():
    """`--help` is fast because the app imports no torch (timing it here would fail on a busy machine)."""
    result = subprocess.run([CFSNN, "--help"], capture_output=True, text=True, env=ENV, timeout=60)
    assert result.returncode == 0 and "train" in result.stdout and "eval" in result.stdout
    probe = "import sys, cfsnn_cli.cli.app; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"


def imported_modules(*args: str, cwd: Path | None = None) -> set[str]:
    """The modules `cfsnn ARGS` imports, as `python -X importtime` lists them (it exits 0)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cfsnn_cli", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}


SUBCOMMANDS = ["train", "eval", "profile-spikes", "export", "sweep", "compare", "recipes"]


@pytest.mark.parametrize(
    "args",
    [[name, "--help"] for name in SUBCOMMANDS]
    + [["recipes", "show", "--help"], ["recipes", "check", "--help"], ["recipes"], ["recipes", "show", "quickstart"]]
    + [["compare", "RUN", "--json", "OUT/compare.json"]],
    ids=lambda args: " ".join(args),
)
def test_help_recipes_and_compare_import_no_torch(tmp_path, args):
    """They answer at once: torch (and with it torchvision, tonic, numba) costs seconds to import."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.toml").write_text('name = "q"\nseed = 0\n[train]\nepochs = 1\n')
    (run / "metrics.jsonl").write_text('{"epoch": 1, "test_accuracy": 0.5, "seconds": 1.0}\n')
    spelled = [a.replace("RUN", str(run)).replace("OUT", str(tmp_path)) for a in args]
    heavy = {name for name in imported_modules(*spelled) if name.split(".")[0] in ("torch", "torchvision", "tonic")}
    assert not heavy, sorted(heavy)[:5]


@pytest.mark.slow
def test_quickstart_reaches_95_percent_and_eval_agrees(tmp_path):
    out = tmp_path / "quickstart"
    trained = subprocess.run([CFSNN, "train", "--out", str(out)], capture_output=True, text=True, env=ENV, timeout=300)
    assert trained.returncode == 0, trained.stderr
    final = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert final["test_accuracy"] >= 0.95
    report = tmp_path / "eval.json"
    evaluated = subprocess.run(
        [CFSNN, "eval", "--ckpt", str(out), "--json", str(report)], capture_output=True, text=True, env=ENV, timeout=120
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(report.read_text())["top1"] == final["test_accuracy"]
    print(f"quickstart: test accuracy {final['test_accuracy']:.4f}")


def interrupt_after_first_epoch(out, number):
    """Run a 40-epoch training and send it `number` once its first epoch is reported."""
    command = [CFSNN, "train", "--set", "train.epochs=40", "--set", "model.hidden=[32]", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    for line in process.stdout:
        if line.startswith("epoch   1/40"):
            process.send_signal(number)
            break
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


@pytest.mark.slow
def test_ctrl_c_saves_a_resumable_run_that_finishes(tmp_path):
    out = tmp_path / "run"
    returncode, stderr = interrupt_after_first_epoch(out, signal.SIGINT)
    assert returncode == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr and f"--resume {out}" in stderr
    epochs_done = len((out / "metrics.jsonl").read_text().splitlines())
    assert 1 <= epochs_done < 40
    resumed = subprocess.run(
        [CFSNN, "train", "--resume", str(out)], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == list(
        range(1, 41)
    )


@pytest.mark.slow
def test_sigterm_also_saves_a_resumable_checkpoint(tmp_path):
    returncode, stderr = interrupt_after_first_epoch(tmp_path / "run", signal.SIGTERM)
    assert returncode == 128 + signal.SIGTERM, stderr
    assert "SIGTERM" in stderr and (tmp_path / "run" / "state.safetensors").exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["eval"], "--ckpt: is required"),
        (["evl"], "No such command 'evl'"),
        (["eval", "--ckpt", "x", "--samples", "3"], "--samples: no such option"),
        (["profile-spikes", "--ckpt", "x", "--samples", "many"], "--samples: input should be a valid integer"),
        (["recipes", "show"], "NAME: is required"),
        (["sweep", "quickstart"], "--out: is required"),
    ],
)
def test_a_usage_mistake_is_the_same_one_line_as_every_other(args, named):
    result = subprocess.run([CFSNN, *args], capture_output=True, text=True, env=ENV, timeout=60)
    assert result.returncode == 2 and result.stdout == "", result.stdout
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"cfsnn: error: {named}") and line.endswith("--help)"), line
