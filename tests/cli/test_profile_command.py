"""`cfsnn profile-spikes` as a researcher runs it: tables that fit 80 columns, JSON that follows the
schema in docs/profiling.md with numbers that agree with each other, five real PNGs, and every
mistake refused in one line before anything is written. Also the progress bar `eval` and
`profile-spikes` share, which a pipe never sees."""

import hashlib
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cfsnn_cli.cli.app import app
from tests.cli.helpers import refused
from tests.profile_schema import documented_schema

pytestmark = pytest.mark.slow  # every test here profiles a checkpoint trained for it by the real CLI

CFSNN = str(Path(sys.executable).parent / "cfsnn")
ENV = {**os.environ, "COLUMNS": "80", "OMP_NUM_THREADS": "2"}
ROOT = Path(__file__).resolve().parents[2]
PNGS = ("rates.png", "rate_heatmap.png", "membrane.png", "alpha.png", "raster.png")


def cfsnn(*args):
    return subprocess.run([CFSNN, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300, check=False)


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def everything_under(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        for path in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("profile") / "run"
    trained = cfsnn("train", "--set", "train.epochs=1", "--set", "model.hidden=[32]", "--out", out)
    assert trained.returncode == 0, trained.stderr
    return out


@pytest.fixture(scope="module")
def profiled(run_dir, tmp_path_factory):
    """One full run through the installed program: 50 samples, JSON and a plot folder to be made."""
    where = tmp_path_factory.mktemp("profiled")
    report, plots = where / "profile.json", where / "plots"
    result = cfsnn("profile-spikes", "--ckpt", run_dir, "--json", report, "--plot", plots, "--samples", 50)
    assert result.returncode == 0, result.stderr
    return result, json.loads(report.read_text()), plots


# --- a full profile ------------------------------------------------------------------------------


def test_the_tables_show_every_layer_and_fit_80_columns(profiled):
    from cfsnn_cli.cli.profile_render import compact, energy_text

    result, report, _ = profiled
    stdout = result.stdout
    for layer in report["layers"] + report["synapses"]:  # numbered n1.. and s1.., then path · kind
        assert re.search(rf"^\s*[ns]\d+\s+{re.escape(layer['name'])} · ", stdout, flags=re.M), (layer["name"], stdout)
    assert "…" not in stdout, stdout
    assert max(len(line) for line in stdout.splitlines()) <= 80, stdout
    assert "\x1b" not in stdout and "\r" not in stdout, stdout  # a pipe gets no colours and no bar
    energy = report["energy"]
    formula = (
        f"{energy_text(energy['total_pj'])} = 4.6 pJ × {compact(report['macs'])} MACs "
        f"+ 0.9 pJ × {compact(report['synops'])} SynOps"
    )
    assert re.search(rf"energy \(45nm\)\s+{re.escape(formula)}", stdout), (formula, stdout)
    assert result.stderr == ""


def test_the_json_follows_the_documented_schema(profiled):
    from jsonschema import Draft202012Validator

    _, report, _ = profiled
    schema = documented_schema()
    Draft202012Validator.check_schema(schema)
    Draft202012Validator(schema).validate(report)


def test_the_json_numbers_agree_with_each_other(profiled, run_dir):
    _, report, _ = profiled
    assert report["samples"] == 50 and report["split"] == "test" and report["recipe"] == "quickstart"
    assert Path(report["checkpoint"]) == run_dir / "model.safetensors"
    steps = report["timesteps"]
    assert steps == 4  # the quickstart recipe's T
    assert [layer["name"] for layer in report["layers"]]  # a spiking network has spiking layers
    for layer in report["layers"]:
        assert 0 <= layer["rate"] <= layer["levels"]
        assert math.isclose(layer["positive_rate"] + layer["negative_rate"], layer["rate"], rel_tol=1e-9, abs_tol=1e-12)
        assert len(layer["rate_per_step"]) == steps
        assert math.isclose(sum(layer["rate_per_step"]) / steps, layer["rate"], rel_tol=1e-9, abs_tol=1e-12)
        assert layer["silent_neurons"] + layer["always_firing_neurons"] <= layer["neurons"]
        histogram = layer["histogram"]
        assert len(histogram["edges_over_threshold"]) == len(histogram["counts"]) + 1
        assert sum(histogram["counts"]) + histogram["below"] + histogram["above"] == 50 * steps * layer["neurons"]
    synapses = report["synapses"]
    assert synapses[0]["input"] == "real" and synapses[0]["synops"] == 0  # pixels of a static image
    assert all(s["input"] == "spikes" and s["macs"] == 0 for s in synapses[1:])
    for total in ("synops", "macs", "dense_macs", "bias_adds"):
        assert math.isclose(report[total], sum(s[total] for s in synapses), rel_tol=1e-12)
    assert report["neuron_updates"] == steps * sum(layer["neurons"] for layer in report["layers"])
    energy = report["energy"]
    assert (energy["e_mac_pj"], energy["e_ac_pj"]) == (4.6, 0.9)
    expected = energy["e_mac_pj"] * report["macs"] + energy["e_ac_pj"] * report["synops"]
    assert math.isclose(energy["total_pj"], expected, rel_tol=1e-12)
    assert math.isclose(energy["mac_pj"] + energy["ac_pj"], energy["total_pj"], rel_tol=1e-12)


def test_the_plot_folder_is_made_and_holds_five_real_images(profiled):
    from PIL import Image

    from cfsnn_cli.cli.profile_plots import pixel_size

    _, _, plots = profiled
    assert sorted(path.name for path in plots.iterdir()) == sorted(PNGS)  # no temporary file left behind
    for name in PNGS:
        with Image.open(plots / name) as image:
            assert image.format == "PNG"
            assert image.size == pixel_size(name), name
            colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
            assert colours is None or len(colours) > 10, name  # a drawing, not a blank canvas


def test_another_number_of_timesteps(run_dir, tmp_path):
    report = tmp_path / "t7.json"
    result = run("profile-spikes", "--ckpt", run_dir, "--samples", 20, "--timesteps", 7, "--json", report)
    assert result.exit_code == 0, result.output
    profile = json.loads(report.read_text())
    assert profile["timesteps"] == 7 and profile["samples"] == 20
    assert all(len(layer["rate_per_step"]) == 7 for layer in profile["layers"])
    assert "T = 7" in result.stdout


def test_energy_presets_and_custom_energies(run_dir, tmp_path):
    reports = {}
    for label, options in {
        "45nm": [],
        "int8": ["--energy", "int8"],
        "custom": ["--e-mac", 1, "--e-ac", 0.5],
    }.items():
        path = tmp_path / f"{label}.json"
        result = run("profile-spikes", "--ckpt", run_dir, "--samples", 20, "--json", path, *options)
        assert result.exit_code == 0, result.output
        reports[label] = json.loads(path.read_text())
    counts = {label: (r["macs"], r["synops"]) for label, r in reports.items()}
    assert len(set(counts.values())) == 1  # the energy changes, not what is counted
    macs, synops = counts["45nm"]
    int8, custom = reports["int8"]["energy"], reports["custom"]["energy"]
    assert (int8["preset"], int8["e_mac_pj"], int8["e_ac_pj"]) == ("int8", 0.23, 0.03)
    assert math.isclose(int8["total_pj"], 0.23 * macs + 0.03 * synops, rel_tol=1e-12)
    assert (custom["preset"], custom["e_mac_pj"], custom["e_ac_pj"]) == ("custom", 1.0, 0.5)
    assert math.isclose(custom["total_pj"], macs + 0.5 * synops, rel_tol=1e-12)
    assert len({r["energy"]["total_pj"] for r in reports.values()}) == 3


def test_the_files_are_written_when_stdout_is_closed(run_dir, tmp_path):
    """`cfsnn profile-spikes ... | head -1`: the reader of the tables may be gone before they are printed."""
    report, plots = tmp_path / "p.json", tmp_path / "plots"
    command = [CFSNN, "profile-spikes", "--ckpt", str(run_dir), "--samples", "10", "--json", str(report)]
    process = subprocess.Popen(
        [*command, "--plot", str(plots)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=300) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert json.loads(report.read_text())["samples"] == 10
    assert sorted(path.name for path in plots.iterdir()) == sorted(PNGS)


def wide_profile():
    """A deep network's worst case for 80 columns: long layer names, large counts, eight α, τ = ∞."""
    from cfsnn_cli.engine.profile import (
        MembraneHistogram,
        NeuronLayerProfile,
        SpikeProfile,
        SynapseLayerProfile,
        energy_of,
    )

    histogram = MembraneHistogram([-2.0, 0.0, 2.0], [1, 1], 0, 0)
    layer = NeuronLayerProfile(
        name="features.1.7.first_neuron",
        kind="CFNeuron",
        fed_by=["features.1.7.conv_shortcut.0"],
        neurons=131072,
        levels=3,
        bipolar=True,
        threshold=0.987654,
        beta=1.0,
        tau=math.inf,
        alpha=[4.0 + i / 100 for i in range(8)],
        learned=["threshold", "alpha"],
        rate=1.23456,
        rate_per_step=[1.23456] * 8,
        positive_rate=0.61728,
        negative_rate=0.61728,
        multi_level_share=0.4567,
        saturated_share=0.1234,
        silent_neurons=99999,
        always_firing_neurons=123456,
        mean_relu_h=0.5,
        mean_relu_neg_h=0.5,
        pn_imbalance=-0.0123,
        histogram=histogram,
    )
    synapse = SynapseLayerProfile(
        "features.1.7.conv_shortcut.0", "Conv2d", "spikes", 1.234e9, 0.0, 9.87e9, 5.5e6, ["features.1.7.first_neuron"]
    )
    return SpikeProfile(
        samples=10000,
        timesteps=8,
        layers=[layer],
        synapses=[synapse],
        synops=1.234e9,
        macs=2.5e8,
        dense_macs=9.87e9,
        bias_adds=5.5e6,
        neuron_updates=1.05e6,
        firing_rate=1.23456,
        activation_sparsity=0.5,
        energy=energy_of(2.5e8, 1.234e9, "int8"),
    )


def test_tables_of_a_deep_network_keep_every_number_whole_in_80_columns():
    from cfsnn_cli.cli.profile_render import profile_tables

    checkpoint = SimpleNamespace(recipe=SimpleNamespace(name="cifar10-resnet19"), epoch=300)
    screen = Console(file=io.StringIO(), width=80, color_system=None, record=True)
    for table in profile_tables(checkpoint, wide_profile(), "test"):
        screen.print(table)
    text = screen.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80, text
    for shown in (
        "features.1.7.",  # the path folds at its dots where the columns need its room
        "first_neuron",
        "conv_shortcut.",
        "131k",
        "123.46",
        "45.67",
        "99,999",
        "123k",
        "±3",
        "-0.012",
        "0.988*",
        "∞",
        "4.04",  # α: the mean and range of eight per-step values, wrapped if need be but whole
        "(4.00–4.07)*",
        "1.23G",
        "9.87G",
        "5.5M",
        "0.23 pJ × 250M MACs",
    ):
        assert shown in text, (shown, text)


# --- mistakes: one line, exit code 2, nothing written ---------------------------------------------


@pytest.fixture
def no_profiling(monkeypatch):
    """The checks on options and paths come before any work: profiling now fails the test."""
    from cfsnn_cli.engine import profile

    def forbidden(*args, **kwargs):
        raise AssertionError("profiled before the options were checked")

    monkeypatch.setattr(profile, "profile_checkpoint", forbidden)


@pytest.mark.parametrize(
    "options,words",
    [
        (["--samples", 0], ["--samples", ">= 1"]),
        (["--samples", -3], ["--samples"]),
        (["--timesteps", 0], ["--timesteps", "4096"]),
        (["--timesteps", 4097], ["--timesteps", "4096"]),
        (["--batch-size", 0], ["--batch-size"]),
        (["--split", "val"], ["--split", "test, train"]),
        (["--energy", "7nm"], ["--energy", "45nm, fp16, int8"]),
        (["--e-mac", 0], ["--e-mac", "> 0"]),
        (["--e-ac", -1], ["--e-ac", "> 0"]),
        (["--e-ac", "nan"], ["--e-ac"]),
    ],
)
def test_bad_options_are_one_line(run_dir, tmp_path, no_profiling, options, words):
    result = run("profile-spikes", "--ckpt", run_dir, "--json", tmp_path / "p.json", "--plot", tmp_path / "p", *options)
    refused(result, *words)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_checkpoint(tmp_path):
    missing = tmp_path / "nothing.safetensors"
    refused(run("profile-spikes", "--ckpt", missing, "--json", tmp_path / "p.json", "--plot", tmp_path / "p"), "--ckpt")
    assert list(tmp_path.iterdir()) == []


def test_a_safetensors_file_that_is_not_a_cfsnn_checkpoint(tmp_path):
    import torch
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(3, 2)}, str(foreign))
    before = everything_under(tmp_path)
    result = run("profile-spikes", "--ckpt", foreign, "--json", tmp_path / "p.json", "--plot", tmp_path / "p")
    refused(result, "--ckpt", "not written by cfsnn")
    assert everything_under(tmp_path) == before


@pytest.mark.parametrize("target", ["model.safetensors", "best.safetensors", "state.safetensors", "."])
def test_json_never_replaces_the_checkpoint_or_any_safetensors(run_dir, no_profiling, target):
    before = everything_under(run_dir)
    refused(run("profile-spikes", "--ckpt", run_dir, "--json", run_dir / target), "--json")
    assert everything_under(run_dir) == before


def test_json_and_a_png_of_the_plot_folder_are_not_the_same_file(run_dir, tmp_path, no_profiling):
    (tmp_path / "rates.png").symlink_to(tmp_path / "p.json")  # each name fits its option; one file
    result = run("profile-spikes", "--ckpt", run_dir, "--plot", tmp_path, "--json", tmp_path / "p.json")
    refused(result, "same file")
    assert [path.name for path in tmp_path.iterdir()] == ["rates.png"]


def test_a_plot_that_names_a_regular_file(run_dir, tmp_path, no_profiling):
    in_the_way = tmp_path / "plots"
    in_the_way.write_text("notes\n")
    refused(run("profile-spikes", "--ckpt", run_dir, "--plot", in_the_way, "--json", tmp_path / "p.json"), "--plot")
    assert everything_under(tmp_path) == {"plots": hashlib.sha256(b"notes\n").hexdigest()}


def test_a_plot_folder_whose_parent_is_missing(run_dir, tmp_path, no_profiling):
    result = run(
        "profile-spikes", "--ckpt", run_dir, "--plot", tmp_path / "no" / "plots", "--json", tmp_path / "p.json"
    )
    refused(result, "--plot", "does not exist")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nothing can be written in: made read-only, or (for root, whom modes do not stop) a
    folder of the read-only /sys file system."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    try:
        Path(tempfile.mkdtemp(dir="/sys")).rmdir()
    except OSError:
        yield Path("/sys")
        return
    pytest.skip("no folder here refuses root's writes")


@pytest.mark.parametrize("inside", [False, True], ids=["the folder", "its parent"])
def test_a_plot_folder_that_cannot_be_written(run_dir, tmp_path, no_profiling, read_only_folder, inside):
    plots = read_only_folder / "plots" if inside else read_only_folder
    before = everything_under(tmp_path)
    result = run("profile-spikes", "--ckpt", run_dir, "--plot", plots, "--json", tmp_path / "p.json")
    refused(result, "--plot", "cannot write")
    assert everything_under(tmp_path) == before


# --- the progress bar: on a terminal only --------------------------------------------------------


def test_the_progress_bar_shows_batches_on_a_terminal():
    from cfsnn_cli.cli.console import EvaluationProgress

    terminal = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    with EvaluationProgress("profile test", terminal) as progress:
        assert progress.progress.live.is_started
        progress.evaluation_progress(3, 12)
        screen = Console(file=io.StringIO(), width=80, color_system=None, record=True)
        screen.print(progress.progress.make_tasks_table(progress.progress.tasks))
    line = screen.export_text()
    assert "profile test" in line and "3/12" in line and "…" not in line, line
    assert not progress.progress.live.is_started


def test_the_progress_bar_stays_off_a_pipe():
    from cfsnn_cli.cli.console import EvaluationProgress

    pipe = io.StringIO()
    with EvaluationProgress("eval test", Console(file=pipe, width=80)) as progress:
        progress.evaluation_progress(1, 2)
        progress.evaluation_progress(2, 2)
    assert not progress.progress.live.is_started and pipe.getvalue() == ""


def test_eval_piped_prints_only_its_tables(run_dir, tmp_path):
    from cfsnn_cli.cli.eval_render import evaluation_tables

    report = tmp_path / "eval.json"
    result = cfsnn("eval", "--ckpt", run_dir, "--json", report)
    assert result.returncode == 0, result.stderr
    numbers = json.loads(report.read_text())
    checkpoint = SimpleNamespace(recipe=SimpleNamespace(name=numbers["recipe"]), epoch=numbers["epoch"])
    evaluation = SimpleNamespace(**{key: numbers[key] for key in ("samples", "loss", "top1", "top5", "per_class")})
    evaluation.latency = numbers["latency"]
    screen = Console(file=io.StringIO(), width=80, color_system=None)
    for table in evaluation_tables(checkpoint, evaluation, "test"):
        screen.print(table)
    assert result.stdout == screen.file.getvalue()


# --- one list of presets --------------------------------------------------------------------------


def test_help_names_the_engines_presets():
    from cfsnn_cli.cli.profile import ENERGY_NAMES
    from cfsnn_cli.engine.profile import ENERGY_PRESETS

    assert ENERGY_NAMES == tuple(ENERGY_PRESETS)


@pytest.mark.parametrize(
    "value,shown",
    [(0, "0"), (40, "40"), (5053.6, "5.05k"), (65536, "65.5k"), (999.7, "1k"), (1.2e6, "1.2M"), (3.4e9, "3.4G")],
)
def test_compact_numbers(value, shown):
    from cfsnn_cli.cli.profile_render import compact

    assert compact(value) == shown


def test_energy_in_the_right_unit():
    from cfsnn_cli.cli.profile_render import energy_text

    assert [energy_text(pj) for pj in (0.5, 306013.84, 1.23e6, 4.2e9)] == ["0.5 pJ", "306 nJ", "1.23 µJ", "4.2 mJ"]
