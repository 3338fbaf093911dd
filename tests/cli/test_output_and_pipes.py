"""What a newcomer sees around the work itself: output cut short by a closed pipe, 80 columns,
plots of one epoch, and paths the system refuses. Run through the installed `cfsnn` where it matters
(a pipe, the terminal width and the exit code are the program's, not Typer's runner's)."""

import io
import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cfsnn_cli.cli.app import app

pytestmark = pytest.mark.slow  # these run real `cfsnn` trainings and evaluations as subprocesses

CFSNN = str(Path(sys.executable).parent / "cfsnn")
ENV = {**os.environ, "COLUMNS": "80", "OMP_NUM_THREADS": "2"}
TINY = ["--set", "train.epochs=2", "--set", "model.hidden=[16]"]
ROOT = Path(__file__).resolve().parents[2]


def cfsnn(*args, **kwargs):
    return subprocess.run(
        [CFSNN, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300, check=False, **kwargs
    )


def with_stdout_closed(*args):
    """Run cfsnn with stdout a pipe whose reader is gone from the start, as in `cfsnn ... | head -1`
    once head has exited: every write to stdout then fails with EPIPE."""
    process = subprocess.Popen(
        [CFSNN, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    process.stdout.close()
    stderr = process.stderr.read()
    process.wait(timeout=300)
    return process.returncode, stderr


def assert_quiet(stderr: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr and "BrokenPipe" not in stderr, stderr


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    """A 2-epoch quickstart run in a folder whose path alone is longer than an 80-column line."""
    out = tmp_path_factory.mktemp("runs") / ("a-rather-long-folder-name-for-the-experiments-" * 2) / "run"
    out.parent.mkdir()
    trained = cfsnn("train", *TINY, "--out", out)
    assert trained.returncode == 0, trained.stderr
    return out, trained.stdout


# --- A. a closed pipe stops the printing, not the work ------------------------------------------


def test_training_finishes_when_stdout_is_closed(tmp_path):
    out = tmp_path / "run"
    returncode, stderr = with_stdout_closed("train", *TINY, "--out", out)
    assert returncode == 0, stderr
    assert_quiet(stderr)
    assert {"model.safetensors", "best.safetensors", "metrics.jsonl", "curves.png"} <= {p.name for p in out.iterdir()}
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_eval_writes_json_and_plot_when_stdout_is_closed(long_run, tmp_path):
    out, _ = long_run
    report, plot = tmp_path / "eval.json", tmp_path / "eval.pdf"
    returncode, stderr = with_stdout_closed("eval", "--ckpt", out, "--json", report, "--plot", plot)
    assert returncode == 0, stderr
    assert_quiet(stderr)
    assert json.loads(report.read_text())["timesteps"] == 4
    assert plot.read_bytes()[:5] == b"%PDF-"  # --plot x.pdf draws a PDF, not a PNG named .pdf


# --- B. readable in 80 columns and through a pipe -----------------------------------------------


def test_training_output_fits_80_columns_and_keeps_paths_whole(long_run):
    out, stdout = long_run
    assert len(str(out)) > 80
    assert "…" not in stdout, stdout  # no "2.8e-…" learning rates or PN balances
    lines = stdout.splitlines()
    assert any(str(out) in line and "run folder" in line for line in lines), stdout  # the start line
    assert any(line.startswith(f"run folder: {out}") for line in lines), stdout  # and the last one
    assert all(line.strip() for line in lines), stdout  # no empty line left by a progress bar
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert re.search(r"\d\.\de-\d+\s", stdout) and f"{100 * last['test_accuracy']:.2f}" in stdout


def test_progress_bar_keeps_its_numbers_in_80_columns():
    from cfsnn_cli.cli.train_render import TrainingDisplay
    from cfsnn_cli.engine.report import StepFinished

    terminal = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    display = TrainingDisplay(terminal)
    display.epochs = 300
    step = StepFinished(epoch=300, step=12, steps=1000, loss=12.2345, accuracy=0.5, lr=2.8e-3, samples_per_second=12345)
    display.step_finished(step)
    screen = Console(file=io.StringIO(), width=80, color_system=None, record=True)
    screen.print(display.progress.make_tasks_table(display.progress.tasks))
    line = screen.export_text()
    assert "…" not in line, line
    for shown in ("epoch 300/300", "12/1000", "loss 12.2345", "acc 50.0%", "lr 2.8e-3", "12345/s"):
        assert shown in line, (shown, line)


def test_recipes_list_keeps_a_readable_description_in_80_columns():
    listed = cfsnn("recipes")
    assert listed.returncode == 0, listed.stderr
    assert "…" not in listed.stdout, listed.stdout
    header = next(line for line in listed.stdout.splitlines() if "description" in line)
    cell = next(cell for cell in re.split(r"[┃│|]", header) if "description" in cell)
    assert len(cell) >= 20, listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80


def test_latency_table_folds_a_long_T():
    from cfsnn_cli.cli.eval_render import evaluation_tables

    checkpoint = SimpleNamespace(recipe=SimpleNamespace(name="long"), epoch=3)
    result = SimpleNamespace(
        samples=10, top1=0.5, top5=0.9, loss=1.0, per_class={"0": 0.5}, latency=[i / 4096 for i in range(1, 4097)]
    )
    screen = Console(file=io.StringIO(), width=80, color_system=None, record=True)
    screen.print(evaluation_tables(checkpoint, result, "test")[-1])
    steps = [int(t) for t in re.findall(r"^│\s*(\d+) │", screen.export_text(), flags=re.M)]
    assert steps[:8] == list(range(1, 9)) and steps[-1] == 4096 and len(steps) <= 20
    assert steps == sorted(set(steps))


def test_version():
    shown = cfsnn("--version")
    assert shown.returncode == 0 and shown.stdout == f"cfsnn {version('cfsnn')}\n" == "cfsnn 0.1.0\n"


# --- C. plots ------------------------------------------------------------------------------------


def visible_ticks(axis) -> list[float]:
    low, high = axis.get_xlim()
    return [tick for tick in axis.get_xticks() if low <= tick <= high]


def test_a_one_epoch_training_plot_shows_its_points_on_whole_epochs():
    from cfsnn_cli.cli.plots import training_figure

    history = [{"epoch": 1, "train_loss": 1.7, "test_loss": 1.5, "train_accuracy": 0.56, "test_accuracy": 0.73}]
    figure = training_figure(history, "one epoch")
    figure.canvas.draw()
    for axis in figure.axes:
        assert visible_ticks(axis) and all(float(tick).is_integer() for tick in visible_ticks(axis))
        assert all(line.get_marker() not in (None, "None", "", " ") for line in axis.get_lines())


def test_latency_plot_spans_0_to_100_percent():
    from cfsnn_cli.cli.plots import evaluation_figure

    result = SimpleNamespace(latency=[0.9], per_class={"0": 1.0, "1": 0.8})
    figure = evaluation_figure(result, "one step")
    figure.canvas.draw()
    assert figure.axes[0].get_ylim() == (0, 100)
    assert all(float(tick).is_integer() for tick in visible_ticks(figure.axes[0]))


@pytest.mark.parametrize(("suffix", "start"), [(".png", b"\x89PNG"), (".pdf", b"%PDF-"), (".svg", b"<?xml")])
def test_plot_format_follows_the_suffix(tmp_path, suffix, start):
    from cfsnn_cli.cli.plots import evaluation_plot, plot_format

    assert plot_format("--plot", Path(f"x{suffix.upper()}")) == suffix[1:]
    path = tmp_path / f"latency{suffix}"
    evaluation_plot(SimpleNamespace(latency=[0.5, 0.9], per_class={"0": 1.0}), "t", path)
    assert path.read_bytes()[:5].startswith(start)


def test_eval_refuses_a_plot_suffix_it_cannot_draw(long_run, tmp_path):
    out, _ = long_run
    result = CliRunner().invoke(app, ["eval", "--ckpt", str(out), "--plot", str(tmp_path / "x.jpg")])
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("cfsnn: error: --plot: ") and ".png" in line and ".pdf" in line and ".svg" in line
    assert not (tmp_path / "x.jpg").exists()


def test_docs_say_that_timesteps_rebins_event_recordings():
    for document in (ROOT / "docs" / "cli.md", ROOT / "README.md"):
        text = " ".join(document.read_text().split())
        assert "re-bins" in text and "`window_ms`" in text and "27 % at T = 32" in text, document


# --- D. paths the system refuses are mistakes in what was given, not internal errors ---------------


def assert_one_line_naming(result, path) -> str:
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("cfsnn: error: ") and str(path) in line and "internal error" not in line, line
    assert "Traceback" not in result.stderr
    return line


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc, where no folder can be made")
def test_out_where_no_folder_can_be_made():
    result = cfsnn("train", *TINY, "--out", "/proc/nope")
    assert_one_line_naming(result, "/proc/nope")
    assert result.stdout == ""  # no stray blank line from a progress display that never showed
    assert not Path("/proc/nope").exists()
    assert cfsnn("train", "--set", "neuron.tau=0").stdout == ""


def test_cache_dir_under_a_regular_file(tmp_path):
    a_file = tmp_path / "notadir"
    a_file.write_text("mine")
    out = tmp_path / "run"
    cache_dir = f"data.cache_dir='{a_file / 'x'}'"
    result = cfsnn("train", "digits-events", "--set", cache_dir, "--set", "train.epochs=1", "--out", out)
    line = assert_one_line_naming(result, a_file / "x")
    assert f"{a_file} is a file" in line
    assert a_file.read_text() == "mine" and not out.exists()
    assert result.stdout.count("\n") == 1 and result.stdout.strip() != ""  # the start line, then nothing blank


def test_an_error_a_dataloader_worker_reraises_is_named_too(tmp_path):
    import torch

    from cfsnn_cli.cli.outcomes import exit_code_and_message

    missing = tmp_path / "gone" / "sample.npy"

    class Reads(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, index):
            return missing.read_bytes()

    with pytest.raises(FileNotFoundError) as raised:
        next(iter(torch.utils.data.DataLoader(Reads(), num_workers=1)))
    assert raised.value.filename is None  # rebuilt from the worker's traceback: only the text survives
    assert exit_code_and_message(raised.value) == (2, f"cfsnn: error: {missing}: No such file or directory")
