"""`cfsnn compare`: every number it reports is the one in the runs' metrics.jsonl, grouped by
configuration over seeds; bad paths and files are one line with exit code 2."""

import json
import math
import random
import shutil
import statistics
from pathlib import Path

import pytest
import tomllib
from PIL import Image
from typer.testing import CliRunner

from cfsnn_cli.cli.app import app
from cfsnn_cli.recipe import load_recipe

GRID = {"optim.lr": ["0.003", "0.01"], "model.hidden": ["[16]", "[32]"]}
SEEDS = (0, 1)


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def grid_overrides():
    """The 2 × 2 grid × 2 seeds: (trial name, --set overrides)."""
    return [
        (f"lr{lr}-h{hidden.strip('[]')}-s{seed}", [f"optim.lr={lr}", f"model.hidden={hidden}", f"seed={seed}"])
        for lr in GRID["optim.lr"]
        for hidden in GRID["model.hidden"]
        for seed in SEEDS
    ]


def write_run(
    folder: Path, overrides: list[str], epochs_done: int, rng: random.Random, firing: bool = False, synops: float = 0
) -> Path:
    """A run folder as `cfsnn train` leaves it (recipe.toml from the real Recipe.to_toml), with
    made-up metrics for `epochs_done` epochs; `synops` > 0 records the final profile's totals
    (SynOps near it, and an energy) in the last line, as a finished run does."""
    recipe = load_recipe("quickstart", ["train.epochs=3", *overrides])
    folder.mkdir(parents=True)
    (folder / "recipe.toml").write_text(recipe.to_toml())
    lines = []
    for epoch in range(1, epochs_done + 1):
        metrics = {"epoch": epoch, "train_loss": 1.0, "train_accuracy": 0.5, "balance": 0.0, "test_loss": 1.0}
        metrics |= {"test_accuracy": rng.randrange(360) / 360, "test_top5": 1.0, "lr": 0.001}
        metrics |= {"seconds": rng.uniform(0.5, 2.0), "samples_per_second": 1000.0}
        if firing:
            metrics |= {"test_firing_rate": rng.uniform(0.01, 0.3), "layer_firing_rates": {"1": 0.1}}
        if synops and epoch == epochs_done:
            metrics |= {"test_synops": synops * rng.uniform(0.95, 1.05), "test_macs": 4096.0}
            metrics |= {"test_energy_pj": 0.9 * metrics["test_synops"] + 4.6 * 4096}
        lines.append(json.dumps(metrics) + "\n")
    (folder / "metrics.jsonl").write_text("".join(lines))
    return folder


def metrics_of(folder: str) -> list[dict]:
    return [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines()]


def configuration_of(folder: str) -> dict:
    recipe = tomllib.loads((Path(folder) / "recipe.toml").read_text())
    return {key: value for key, value in recipe.items() if key not in ("seed", "name", "description")}


def check_numbers_against_metrics(report: dict, trials: Path) -> None:
    """Every number in the report, recomputed here from each run's own metrics.jsonl."""
    assert report["fields"] == ["model.hidden", "optim.lr"]
    configurations = report["configurations"]
    assert [list(c["fields"].values()) for c in configurations] == [
        [[16], 0.003],
        [[16], 0.01],
        [[32], 0.003],
        [[32], 0.01],
    ]
    reported = [run["path"] for c in configurations for run in c["runs"]]
    assert sorted(Path(p).name for p in reported) == sorted(p.name for p in trials.iterdir() if p.is_dir())
    for configuration in configurations:
        runs = configuration["runs"]
        assert [run["seed"] for run in runs] == list(SEEDS) and configuration["seeds"] == len(SEEDS)
        assert all(configuration_of(run["path"]) == configuration_of(runs[0]["path"]) for run in runs)
        finals, bests, seconds, curves = [], [], [], []
        for run in runs:
            history = metrics_of(run["path"])
            accuracies = [m["test_accuracy"] for m in history]
            assert run["test_accuracy"] == accuracies and run["finished"]
            assert run["final_test_accuracy"] == accuracies[-1] and run["best_test_accuracy"] == max(accuracies)
            assert run["seconds"] == math.fsum(m["seconds"] for m in history)
            finals.append(accuracies[-1])
            bests.append(max(accuracies))
            seconds.append(run["seconds"])
            curves.append(accuracies)
        for key, values in (("final_test_accuracy", finals), ("best_test_accuracy", bests), ("seconds", seconds)):
            summary = configuration[key]
            assert summary["values"] == values
            assert summary["mean"] == statistics.mean(values) and summary["std"] == statistics.stdev(values)
        curve = configuration["curve"]
        per_epoch = list(zip(*curves, strict=True))
        assert curve["mean"] == [statistics.mean(epoch) for epoch in per_epoch]
        assert curve["min"] == [min(epoch) for epoch in per_epoch]
        assert curve["max"] == [max(epoch) for epoch in per_epoch]


@pytest.fixture
def sweep(tmp_path):
    """A 2 × 2 grid × 2 seeds laid out as a sweep folder, plus one unfinished trial (seed 2,
    1 of 3 epochs) in the first configuration. Firing rates in the lr = 0.01 trials only."""
    folder = tmp_path / "sweep"
    (folder / "trials").mkdir(parents=True)
    (folder / "sweep.json").write_text("{}")
    rng = random.Random(0)
    for name, overrides in grid_overrides():
        write_run(folder / "trials" / name, overrides, 3, rng, firing="optim.lr=0.01" in overrides)
    write_run(folder / "trials" / "unfinished", ["optim.lr=0.003", "model.hidden=[16]", "seed=2"], 1, rng)
    return folder


def test_grid_with_seeds_reports_the_numbers_of_each_runs_metrics(sweep, tmp_path):
    report_path = tmp_path / "compare.json"
    result = run("compare", sweep, "--json", report_path)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())

    unfinished = report["configurations"][0]["runs"].pop()  # the last in seed order
    assert Path(unfinished["path"]).name == "unfinished" and not unfinished["finished"]
    assert unfinished["epochs"] == 1 and unfinished["planned_epochs"] == 3
    assert report["configurations"][0]["unfinished"] == 1
    shutil.rmtree(sweep / "trials" / "unfinished")  # out of the recount below
    check_numbers_against_metrics(report, sweep / "trials")
    assert report["passed_over"] == []

    for configuration in report["configurations"]:
        rate = configuration["test_firing_rate"]
        if configuration["fields"]["optim.lr"] == 0.01:
            finals = [metrics_of(run["path"])[-1]["test_firing_rate"] for run in configuration["runs"]]
            assert rate["values"] == finals and rate["mean"] == statistics.mean(finals)
        else:
            assert rate["mean"] is None and rate["std"] is None

    text = result.stdout
    assert "hidden" in text and "optim." in text and "lr" in text
    assert "neuron" not in text and "balance" not in text and "epochs" in text  # constant fields stay out
    first = report["configurations"][0]
    mean, std = first["final_test_accuracy"]["mean"], first["final_test_accuracy"]["std"]
    assert f"{100 * mean:.2f} ±{100 * std:.2f}" in text
    assert "seed 2" in text and "1/3" in text and "unfinished run" in text and "left out of the means" in text
    assert "—" in text  # the firing rate of the configurations that did not measure it


def test_a_single_run_folder_and_a_plot(tmp_path):
    folder = write_run(tmp_path / "run", [], 3, random.Random(1), firing=True)
    plot = tmp_path / "compare.png"
    report_path = tmp_path / "compare.json"
    result = run("compare", folder, "--plot", plot, "--json", report_path)
    assert result.exit_code == 0, result.output
    history = metrics_of(folder)
    report = json.loads(report_path.read_text())
    assert report["fields"] == [] and len(report["configurations"]) == 1
    only = report["configurations"][0]
    assert only["final_test_accuracy"] == {
        "values": [history[-1]["test_accuracy"]],
        "mean": history[-1]["test_accuracy"],
        "std": None,
    }
    assert f"{100 * history[-1]['test_accuracy']:.2f}" in result.stdout
    assert f"{history[-1]['test_firing_rate']:.3f}" in result.stdout
    assert "1 run in 1 configuration" in result.stdout
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size[0] > 100


def test_costs_are_columns_and_the_front_is_what_no_other_configuration_beats(tmp_path):
    from cfsnn_cli.cli.compare_plot import comparison_figure
    from cfsnn_cli.cli.compare_render import si_figure
    from cfsnn_cli.engine.compare import find_runs, read_runs

    rng = random.Random(5)
    # (hidden, SynOps): the wider net costs more; the grid's accuracies are random
    costs = {16: 5_000.0, 32: 9_000.0, 48: 20_000.0}
    folders = [
        write_run(tmp_path / f"h{hidden}-s{seed}", [f"model.hidden=[{hidden}]", f"seed={seed}"], 3, rng, synops=synops)
        for hidden, synops in costs.items()
        for seed in SEEDS
    ]
    report_path = tmp_path / "compare.json"
    result = run("compare", *folders, "--json", report_path, "--plot", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    points = []
    for configuration in report["configurations"]:
        finals = [metrics_of(run["path"])[-1] for run in configuration["runs"]]
        for key in ("test_synops", "test_energy_pj"):
            assert configuration[key]["values"] == [line[key] for line in finals]
            assert configuration[key]["mean"] == statistics.mean(line[key] for line in finals)
        points.append((configuration["final_test_accuracy"]["mean"], configuration["test_synops"]["mean"]))
        assert si_figure(configuration["test_synops"]["mean"]) in result.stdout
    # the front by brute force: nobody else at least as accurate and at most as costly
    for (accuracy, synops), configuration in zip(points, report["configurations"], strict=True):
        beaten = any(a >= accuracy and s <= synops and (a, s) != (accuracy, synops) for a, s in points)
        assert configuration["pareto_front"] is not beaten
    assert report["configurations"][0]["pareto_front"]  # the cheapest is always on it
    assert all(word in result.stdout for word in ("SynOps", "energy", "pJ", "front", "on the front"))
    figure = comparison_figure(read_runs(find_runs(folders)), "t")
    _, costs_panel = figure.axes
    assert costs_panel.get_xscale() == "log" and len(costs_panel.containers) == len(costs)  # one point each


def test_runs_and_sweeps_mix_and_a_run_given_twice_counts_once(sweep, tmp_path):
    other = write_run(
        tmp_path / "other", ["optim.lr=0.01", "model.hidden=[16]", "neuron.kind='lif'"], 3, random.Random(2)
    )
    report_path = tmp_path / "compare.json"
    result = run("compare", other, sweep, sweep / "trials" / "unfinished", "--json", report_path)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert len(report["configurations"]) == 5 and sum(len(c["runs"]) for c in report["configurations"]) == 10
    assert report["configurations"][0]["runs"][0]["path"] == str(other)  # the order given comes first
    assert "neuron.kind" in report["fields"] and report["configurations"][1]["fields"]["neuron.kind"] == "cf"
    # a field the LIF recipe lacks (the CF neuron's levels) differs too, and is null where missing
    assert report["configurations"][0]["fields"]["neuron.levels"] is None


def _corrupt_metrics(tmp_path):
    folder = write_run(tmp_path / "run", [], 2, random.Random(3))
    (folder / "metrics.jsonl").write_text('{"epoch": 1, "test_accuracy": 0.5\n')
    return folder, "metrics.jsonl"


def _metrics_without_accuracy(tmp_path):
    folder = write_run(tmp_path / "run", [], 2, random.Random(3))
    (folder / "metrics.jsonl").write_text('{"epoch": 1, "seconds": 1.0}\n')
    return folder, "test_accuracy is missing"


def _corrupt_recipe(tmp_path):
    folder = write_run(tmp_path / "run", [], 2, random.Random(3))
    (folder / "recipe.toml").write_text("name = \n")
    return folder, "recipe.toml"


def _neither(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty", "neither a run folder"


def _a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    return tmp_path / "notes.txt", "is a file"


def _empty_sweep(tmp_path):
    (tmp_path / "sweep" / "trials").mkdir(parents=True)
    return tmp_path / "sweep", "no run in trials/"


BAD_INPUTS = {
    "missing": (lambda tmp_path: (tmp_path / "nowhere", "does not exist")),
    "a file": _a_file,
    "neither": _neither,
    "empty sweep": _empty_sweep,
    "corrupt metrics": _corrupt_metrics,
    "metrics without accuracy": _metrics_without_accuracy,
    "corrupt recipe": _corrupt_recipe,
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_naming_the_path_exit_2(tmp_path, case):
    path, words = BAD_INPUTS[case](tmp_path)
    report_path = tmp_path / "compare.json"
    result = run("compare", path, "--json", report_path)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cfsnn: error: ") and words in lines[0], result.stderr
    assert str(path.name) in lines[0] and not report_path.exists()


def test_outputs_never_replace_what_compare_reads(tmp_path):
    folder = write_run(tmp_path / "run", [], 2, random.Random(4))
    before = (folder / "metrics.jsonl").read_text()
    result = run("compare", folder, "--json", folder / "metrics.jsonl")
    assert result.exit_code == 2 and "--json" in result.stderr
    assert (folder / "metrics.jsonl").read_text() == before
    result = run("compare", folder, "--plot", tmp_path / "compare.jpg")
    assert result.exit_code == 2 and "--plot" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_seed_run_twice_is_flagged_and_bookkeeping_fields_do_not_split_a_configuration(tmp_path):
    rng = random.Random(2)
    first = write_run(tmp_path / "a", ["seed=0"], 3, rng)
    again = write_run(tmp_path / "b", ["seed=0", "train.tensorboard=true", "data.workers=1"], 3, rng)
    report_path = tmp_path / "compare.json"
    result = run("compare", first, again, "--json", report_path)
    assert result.exit_code == 0, result.output
    (only,) = json.loads(report_path.read_text())["configurations"]
    assert only["seeds"] == 2 and only["repeated_seeds"] == [0]
    assert "more than once" in result.stdout and "not independent" in result.stdout


def test_no_number_is_cut_on_a_narrow_terminal(tmp_path):
    rng = random.Random(3)
    many = ["optim.lr=0.01", "model.hidden=[48]", "neuron.tau=3.0", "loss.balance=1.0", "surrogate.alpha=2.0"]
    runs = [write_run(tmp_path / f"r{seed}", [f"seed={seed}"], 3, rng, firing=True) for seed in (0, 1)]
    runs += [write_run(tmp_path / f"m{seed}", [*many, f"seed={seed}"], 3, rng, firing=True) for seed in (0, 1)]
    report_path = tmp_path / "compare.json"
    result = CliRunner().invoke(app, ["compare", *map(str, runs), "--json", str(report_path)], env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    for configuration in json.loads(report_path.read_text())["configurations"]:
        for number in ("final_test_accuracy", "best_test_accuracy"):
            summary = configuration[number]
            assert f"{100 * summary['mean']:.2f}" in result.stdout and f"±{100 * summary['std']:.2f}" in result.stdout
