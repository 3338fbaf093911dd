"""`[layers]` through the installed `cfsnn` program: each mistake is one line naming the entry, exit
code 2 and nothing written; a run whose layers differ is rebuilt the same by eval and profile-spikes,
shown by `recipes show`, and its entries' fields are compared and swept like any other field."""

import json

import pytest

from tests.cli.program import assert_refused, cfsnn, sets

TINY = ["model.hidden=[16, 12]", "train.epochs=1", "data.batch_size=128"]
# quickstart's MLP with two hidden layers has neuron layers "1" and "3"
MIXED = [
    'layers.first.match="1"', "layers.first.neuron.kind=lif", "layers.first.neuron.learn_threshold=true",
    'layers.second.match="3"', "layers.second.surrogate.kind=atan", "layers.second.neuron.levels=2",
]  # fmt: skip


@pytest.mark.parametrize(
    "overrides,words",
    [
        (["layers.a.match=blocks.*", "layers.a.neuron.tau=3.0"], ["layers.a.match", "matches no neuron layer", "1, 3"]),
        (
            ['layers.a.match="1"', "layers.a.neuron.kind=lif", "layers.a.neuron.levels=2"],
            ["layers.a.neuron.levels", "neuron kind 'lif'"],
        ),
        (['layers.a.match="3"', "layers.a.neuron.threshold=-0.5"], ["layers.a.neuron.threshold", "must be > 0"]),
        (['layers.a.match="3"', "layers.a.surrogate.alpha=yes"], ["layers.a.surrogate.alpha", "valid number"]),
        (
            ["layers.a.match=*", "layers.a.neuron.tau=3.0", 'layers.b.match="1"', "layers.b.neuron.tau=5.0"],
            ["layers.b.neuron.tau", "layers.a sets to 3.0", "layer 1"],
        ),
    ],
    ids=["no-match", "field-kind-lacks", "bad-value", "bad-type", "contradiction"],
)
def test_a_bad_entry_is_one_line_naming_it_and_nothing_is_written(tmp_path, overrides, words):
    line = assert_refused(cfsnn("train", "quickstart", *sets(*TINY, *overrides), "--out", tmp_path / "run"), *words)
    assert "--set" in line  # where the entry was written
    assert not (tmp_path / "run").exists()


def test_a_bad_entry_in_a_file_names_the_file(tmp_path):
    recipe = tmp_path / "mine.toml"
    recipe.write_text(
        'extends = "spikformer-digits"\nname = "mine"\n'
        '[layers.attn]\nmatch = "blocks.*.attn"\nneuron.threshold = 0.25\n'
    )
    line = assert_refused(cfsnn("recipes", "check", recipe), "mine.toml", "layers.attn.match", "attention_neuron")
    assert "--set" not in line
    assert_refused(cfsnn("train", recipe, "--out", tmp_path / "run"), "mine.toml", "layers.attn.match")
    assert not (tmp_path / "run").exists()


def test_recipes_show_prints_each_layers_settings_as_comments_of_a_valid_recipe(tmp_path):
    import tomllib

    result = cfsnn("recipes", "show", "quickstart", *sets(*TINY, *MIXED))
    assert result.returncode == 0, result.stderr
    shown = tomllib.loads(result.stdout)  # the comments keep it a recipe
    assert shown["layers"]["first"] == {"match": "1", "neuron": {"kind": "lif", "learn_threshold": True}}
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("#   ")]
    assert rows[0][:4] == ["#", "1", "lif", "sigmoid"] and "(layers.first)" in rows[0]
    assert rows[1][:4] == ["#", "3", "cf", "atan"] and "neuron.levels" in rows[1] and "(layers.second)" in rows[1]


@pytest.mark.slow  # trains a tiny run through the real program
def test_a_run_with_its_own_layer_settings_is_rebuilt_the_same_by_every_command(tmp_path):
    run = tmp_path / "run"
    trained = cfsnn("train", "quickstart", *sets(*TINY, *MIXED), "--out", run)
    assert trained.returncode == 0, trained.stderr
    final = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    evaluated = cfsnn("eval", "--ckpt", run, "--json", tmp_path / "eval.json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((tmp_path / "eval.json").read_text())["top1"] == pytest.approx(final["test_accuracy"])
    profiled = cfsnn("profile-spikes", "--ckpt", run, "--samples", "32", "--json", tmp_path / "profile.json")
    assert profiled.returncode == 0, profiled.stderr
    layers = json.loads((tmp_path / "profile.json").read_text())["layers"]
    assert [(layer["name"], layer["kind"], layer["levels"]) for layer in layers] == [
        ("1", "LIFNeuron", 1),
        ("3", "CFNeuron", 2),
    ]
    assert layers[0]["learned"] == ["threshold", "alpha"] and layers[1]["learned"] == ["alpha"]
    assert "learn_threshold = true" in (run / "recipe.toml").read_text()


@pytest.mark.slow  # trains four tiny runs through the real program
def test_a_sweep_grids_an_entrys_field_and_compare_shows_it(tmp_path):
    base = sets(*TINY, 'layers.first.match="1"', "layers.first.neuron.threshold=0.5", "data.eval_batch_size=360")
    swept = cfsnn(
        "sweep", "quickstart", "--out", tmp_path / "sweep", *base, "--grid", "layers.first.neuron.threshold=0.25,1.0"
    )
    assert swept.returncode == 0, swept.stderr
    compared = cfsnn("compare", tmp_path / "sweep", "--json", tmp_path / "compare.json")
    assert compared.returncode == 0, compared.stderr
    assert "layers.first.neuron.threshold" in compared.stdout
    configurations = json.loads((tmp_path / "compare.json").read_text())["configurations"]
    assert sorted(c["fields"]["layers.first.neuron.threshold"] for c in configurations) == [0.25, 1.0]
