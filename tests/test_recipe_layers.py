"""`[layers]`: which layers an entry's globs match, what each layer resolves to, the precedence
between entries, and every mistake refused naming the entry."""

import pytest

from cfsnn_cli.engine.layer_settings import layer_rows
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.recipe import load_recipe, recipe_from_json, validate_recipe
from cfsnn_cli.recipe_layers import glob_regex, resolve_layers

SPIKFORMER_LAYERS = [
    "stem.body.1",
    "stem.rpe.1",
    "blocks.0.attention.q_neuron",
    "blocks.0.attention.attention_neuron",
    "blocks.0.mlp.1",
    "blocks.1.attention.attention_neuron",
    "blocks.1.mlp.3",
    "head.0",
]


def matched(glob: str) -> list[str]:
    return [name for name in SPIKFORMER_LAYERS if glob_regex(glob).fullmatch(name)]


@pytest.mark.parametrize(
    "glob,want",
    [
        ("blocks.*.attention.attention_neuron", [SPIKFORMER_LAYERS[3], SPIKFORMER_LAYERS[5]]),
        ("blocks.*", []),  # `*` stays within one name
        ("blocks.**", SPIKFORMER_LAYERS[2:7]),  # `**` crosses dots
        ("**.attention_neuron", [SPIKFORMER_LAYERS[3], SPIKFORMER_LAYERS[5]]),
        ("stem.*.1", ["stem.body.1", "stem.rpe.1"]),
        ("blocks.[!0].**", SPIKFORMER_LAYERS[5:7]),
        ("blocks.?.mlp.[13]", ["blocks.0.mlp.1", "blocks.1.mlp.3"]),
        ("blocks.[0-2].mlp.*", ["blocks.0.mlp.1", "blocks.1.mlp.3"]),  # a range, not the three characters 0 - 2
        ("blocks.[1-1].**", SPIKFORMER_LAYERS[5:7]),
        ("head.0", ["head.0"]),
        ("head", []),  # a glob matches whole paths, not prefixes
    ],
)
def test_globs_match_whole_module_paths_name_by_name(glob, want):
    assert matched(glob) == want


def recipe_with(layers: dict, neuron: dict | None = None, construct: bool = False):
    data = {"name": "t", "neuron": neuron or {"kind": "cf", "threshold": 0.5, "levels": 1}, "layers": layers}
    return validate_recipe(data, "t.toml", construct=construct)


def test_a_layer_takes_the_recipe_with_every_matching_entrys_fields_over_it():
    recipe = recipe_with(
        {
            "deep": {"match": "blocks.**", "neuron": {"tau": 4.0}},
            "attention": {"match": "**.attention_neuron", "neuron": {"threshold": 0.25}, "surrogate": {"kind": "atan"}},
        }
    )
    settings = resolve_layers(recipe, SPIKFORMER_LAYERS)
    assert set(settings) == set(SPIKFORMER_LAYERS[2:7])  # stem and head take the recipe's sections
    attention = settings["blocks.0.attention.attention_neuron"]
    assert (attention.neuron.kind, attention.neuron.options()["tau"], attention.neuron.options()["threshold"]) == (
        "cf",
        4.0,
        0.25,
    )
    assert attention.surrogate.kind == "atan" and attention.surrogate.options()["alpha"] == 2.0  # atan's own α
    assert attention.entries == ("attention", "deep")
    assert attention.differences(recipe) == {
        "neuron.tau": 4.0,
        "neuron.threshold": 0.25,
        "surrogate.kind": "atan",
        "surrogate.alpha": 2.0,
    }
    mlp = settings["blocks.0.mlp.1"]
    assert mlp.differences(recipe) == {"neuron.tau": 4.0} and mlp.surrogate.kind == "sigmoid"


def test_a_kind_change_keeps_only_what_carries_over_to_the_new_kind():
    recipe = recipe_with({"first": {"match": "stem.body.1", "neuron": {"kind": "lif", "reset": "hard"}}})
    neuron = resolve_layers(recipe, SPIKFORMER_LAYERS)["stem.body.1"].neuron
    assert neuron.kind == "lif" and neuron.options()["threshold"] == 0.5  # shared with cf: kept
    assert "levels" not in neuron.options() and neuron.options()["reset"] == "hard"


def test_two_entries_may_agree_on_a_field_but_not_contradict_each_other():
    agreeing = {
        "a": {"match": "blocks.**", "neuron": {"tau": 4.0}},
        "b": {"match": "**.attention_neuron", "neuron": {"tau": 4.0}},
    }
    assert resolve_layers(recipe_with(agreeing), SPIKFORMER_LAYERS)["blocks.1.attention.attention_neuron"]
    contradicting = {**agreeing, "b": {"match": "**.attention_neuron", "neuron": {"tau": 8.0}}}
    with pytest.raises(CfsnnError) as caught:
        resolve_layers(recipe_with(contradicting), SPIKFORMER_LAYERS)
    assert caught.value.field == "layers.b.neuron.tau"
    assert "layers.a" in caught.value.problem and "blocks.0.attention.attention_neuron" in caught.value.problem


def test_a_glob_that_matches_nothing_is_refused_with_the_layers_names():
    recipe = recipe_with({"typo": {"match": ["stem.**", "blocks.*.atention_neuron"], "neuron": {"tau": 3.0}}})
    with pytest.raises(CfsnnError) as caught:
        resolve_layers(recipe, SPIKFORMER_LAYERS)
    assert caught.value.field == "layers.typo.match"
    assert "'blocks.*.atention_neuron' matches no neuron layer" in caught.value.problem
    assert all(name in caught.value.problem for name in SPIKFORMER_LAYERS)


def test_a_field_the_combined_kind_lacks_names_the_entry_that_set_it():
    recipe = recipe_with(
        {
            "binary": {"match": "blocks.**", "neuron": {"kind": "lif"}},
            "multi": {"match": "**.attention_neuron", "neuron": {"levels": 2}},  # fine for cf alone
        }
    )
    with pytest.raises(CfsnnError) as caught:
        resolve_layers(recipe, SPIKFORMER_LAYERS)
    assert caught.value.field == "layers.multi.neuron.levels" and "'lif'" in caught.value.problem


@pytest.mark.parametrize(
    "entry,field,words",
    [
        ({"match": "*", "neuron": {"levels": 2, "kind": "lif"}}, "layers.e.neuron.levels", ["neuron kind 'lif'"]),
        ({"match": "*", "neuron": {"threshold": -1.0}}, "layers.e.neuron.threshold", ["must be > 0"]),
        ({"match": "*", "neuron": {"threshold": "high"}}, "layers.e.neuron.threshold", ["valid number"]),
        ({"match": "*", "surrogate": {"kind": "nope"}}, "layers.e.surrogate.kind", ["unknown surrogate"]),
        ({"match": "*"}, "layers.e", ["sets no neuron or surrogate field"]),
        ({"match": 3, "neuron": {"tau": 3.0}}, "layers.e.match", ["a glob or a list of globs"]),
        ({"match": "a[1", "neuron": {"tau": 3.0}}, "layers.e.match", ["opens a ["]),
        ({"match": "a[]", "neuron": {"tau": 3.0}}, "layers.e.match", ["opens a ["]),
        ({"match": "a[3-0]", "neuron": {"tau": 3.0}}, "layers.e.match", ["bad character range"]),
        ({"match": "a/b", "neuron": {"tau": 3.0}}, "layers.e.match", ["no module path"]),
        ({"match": "*", "neurons": {"tau": 3.0}}, "layers.e.neurons", ["known: match, neuron, surrogate"]),
    ],
)
def test_an_entrys_own_mistakes_are_refused_before_any_model_is_built(entry, field, words):
    with pytest.raises(CfsnnError) as caught:
        recipe_with({"e": entry}, construct=True)
    assert caught.value.field == field and caught.value.source == "t.toml"
    assert all(word in caught.value.problem for word in words), caught.value.problem


def test_entries_are_matched_against_the_model_while_the_recipe_is_read():
    with pytest.raises(CfsnnError) as caught:
        load_recipe("spikformer-digits", ["layers.a.match=blocks.*.attn", "layers.a.neuron.tau=3.0"])
    assert (caught.value.source, caught.value.field) == ("overrides", "layers.a.match")
    assert "blocks.0.attention.attention_neuron" in caught.value.problem  # the names to pick from


def test_set_reaches_an_entrys_field_and_a_child_recipe_merges_entries_by_name(tmp_path):
    recipe = load_recipe("spikformer-cifar10-lif", ["layers.attention.neuron.threshold=1.5"])
    assert recipe.layers["attention"].neuron == {"threshold": 1.5}
    assert recipe.layers["attention"].match == "blocks.*.attention.attention_neuron"  # the file's, kept
    child = tmp_path / "child.toml"
    child.write_text(
        'extends = "spikformer-cifar10-lif"\nname = "child"\n'
        '[layers.attention]\nneuron.kind = "cf"\nneuron.levels = 2\n'
        '[layers.first]\nmatch = "stem.body.1"\nneuron.tau = 4.0\n'
    )
    recipe = load_recipe(str(child))
    assert recipe.layers["attention"].neuron == {"threshold": 1.0, "kind": "cf", "levels": 2}
    assert recipe.layers["attention"].match == "blocks.*.attention.attention_neuron"  # inherited
    assert set(recipe.layers) == {"attention", "first"}


def test_the_stored_recipe_gives_back_the_same_entries():
    recipe = load_recipe("sdt-cifar10-lif")
    assert recipe_from_json(recipe.to_json(), "model.safetensors").layers == recipe.layers
    assert "[layers.column.neuron]\nthreshold = 1.0\n" in recipe.to_toml()


def test_layer_rows_list_every_layer_and_what_its_entries_change():
    rows = {row.layer: row for row in layer_rows(load_recipe("sdt-cifar10-lif"))}
    assert len(rows) == 19
    column = rows["blocks.1.0.column_neuron"]
    assert (column.neuron, column.entries, column.differs) == (
        "lif",
        ("column",),
        {"neuron.threshold": 1.0},
    )
    assert rows["blocks.1.0.q_neuron"].entries == () and rows["blocks.1.0.q_neuron"].differs == {}


def test_a_field_set_for_the_recipes_kind_is_refused_where_another_entry_changes_the_kind():
    recipe = recipe_with(
        {
            "sharp": {"match": "blocks.**", "surrogate": {"alpha": 9.0}},  # a sigmoid's α
            "atan": {"match": "**.attention_neuron", "surrogate": {"kind": "atan"}},
        }
    )
    with pytest.raises(CfsnnError) as caught:
        resolve_layers(recipe, SPIKFORMER_LAYERS)
    assert caught.value.field == "layers.sharp.surrogate.alpha"
    assert "layers.atan" in caught.value.problem and "'atan'" in caught.value.problem
    shared = recipe_with(  # τ means the same for lif: kept
        {"slow": {"match": "blocks.**", "neuron": {"tau": 4.0}}, "lif": {"match": "head.0", "neuron": {"kind": "lif"}}}
    )
    assert resolve_layers(shared, SPIKFORMER_LAYERS)["head.0"].neuron.kind == "lif"


def test_a_child_keeps_an_entrys_fields_written_for_the_recipes_kind(tmp_path):
    parent = tmp_path / "parent.toml"
    parent.write_text(
        'extends = "quickstart"\nname = "p"\n[neuron]\nkind = "lif"\n'
        '[layers.a]\nmatch = "1"\nneuron = { reset = "hard", threshold = 0.7 }\n'
    )
    child = tmp_path / "child.toml"
    child.write_text('extends = "parent.toml"\nname = "c"\n[layers.a]\nneuron.kind = "lif"\n')
    assert load_recipe(str(child)).layers["a"].neuron == {"reset": "hard", "threshold": 0.7, "kind": "lif"}


def test_a_mistake_is_placed_where_it_was_written():
    with pytest.raises(CfsnnError) as caught:  # a misspelt entry name makes a new entry on the command line
        load_recipe("spikformer-digits", ["layers.atention.neuron.threshold=0.5"])
    assert (caught.value.source, caught.value.field) == ("overrides", "layers.atention.match")
    with pytest.raises(CfsnnError) as caught:  # the recipe's own τ, which the entry's learn_tau meets
        load_recipe("quickstart", ["neuron.tau=inf", 'layers.b.match="1"', "layers.b.neuron.learn_tau=true"])
    assert (caught.value.source, caught.value.field) == ("overrides", "neuron.tau")
    assert "with layers.b" in caught.value.problem
