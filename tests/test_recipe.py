"""Recipes: every shipped one validates; every kind of mistake is one error naming file and field."""

import pytest

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.recipe import load_recipe, merge, parse_override, shipped_recipes


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", shipped_recipes())
def test_every_shipped_recipe_validates(name):
    recipe = load_recipe(name)
    assert recipe.name == name


def test_resolved_recipe_round_trips_through_toml(tmp_path):
    recipe = load_recipe("quickstart")
    again = load_recipe(str(write(tmp_path, "again.toml", recipe.to_toml())))
    assert again.to_dict() == recipe.to_dict()


def test_defaults_of_a_kind_are_spelled_out():
    recipe = load_recipe("quickstart")
    assert recipe.neuron.options()["detach_reset"] is False
    assert recipe.surrogate.options()["alpha_min"] == 0.1


def test_a_path_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "quickstart", 'name = "mine"\n')
    assert load_recipe("quickstart").name == "mine"


def test_extends_inherits_and_the_child_wins(tmp_path):
    write(tmp_path, "base.toml", 'name = "base"\n[neuron]\nkind = "cf"\nlevels = 3\ntau = 4.0\n[train]\nepochs = 7\n')
    child = write(tmp_path, "child.toml", 'extends = "base.toml"\nname = "child"\n[neuron]\ntau = 2.0\n')
    recipe = load_recipe(str(child))
    assert (recipe.name, recipe.neuron.options()["levels"], recipe.neuron.options()["tau"], recipe.train.epochs) == (
        "child",
        3,
        2.0,
        7,
    )


def test_extends_a_shipped_recipe_by_name(tmp_path):
    child = write(tmp_path, "child.toml", 'extends = "quickstart"\nname = "child"\n[train]\nepochs = 3\n')
    recipe = load_recipe(str(child))
    assert recipe.model.kind == "mlp" and recipe.train.epochs == 3


def test_infinite_tau_survives_toml_and_json(tmp_path):
    from cfsnn_cli.recipe import recipe_from_json

    recipe = load_recipe("quickstart", ["neuron.tau=inf"])
    path = tmp_path / "if.toml"
    path.write_text(recipe.to_toml())
    assert load_recipe(str(path)).neuron.options()["tau"] == float("inf")
    assert recipe_from_json(recipe.to_json(), "stored").neuron.options()["tau"] == float("inf")


def test_a_new_surrogate_kind_starts_from_its_own_alpha_spelled_out():
    recipe = load_recipe("quickstart", ["surrogate.kind=atan"])
    assert recipe.surrogate.options()["alpha"] == 2.0  # atan's own, not the file's sigmoid 4.0
    assert "\nalpha = 2.0\n" in recipe.to_toml()
    assert load_recipe("quickstart", ["neuron.tau=3", "neuron.kind=lif"]).neuron.options()["tau"] == 3.0  # shared: kept


def test_changing_a_kind_drops_the_old_kinds_options():
    recipe = load_recipe("quickstart", ["neuron.kind=lif", "neuron.reset=hard"])
    assert recipe.neuron.kind == "lif" and recipe.neuron.options()["reset"] == "hard"
    assert "levels" not in recipe.neuron.options()


def test_overrides_are_toml_literals():
    assert parse_override("optim.lr=3e-4") == {"optim": {"lr": 3e-4}}
    assert parse_override("model.hidden=[64, 32]") == {"model": {"hidden": [64, 32]}}
    assert parse_override("neuron.bipolar=false") == {"neuron": {"bipolar": False}}
    assert parse_override('name="x"') == {"name": "x"}
    assert parse_override("neuron.kind=lif") == {"neuron": {"kind": "lif"}}  # a bare word is a string
    recipe = load_recipe("quickstart", ["optim.lr=3e-4", "data.timesteps=6"])
    assert recipe.optim.lr == 3e-4 and recipe.data.timesteps == 6


def test_merge_keeps_sections_it_does_not_touch():
    assert merge({"a": {"x": 1, "y": 2}, "b": 1}, {"a": {"y": 3}}) == {"a": {"x": 1, "y": 3}, "b": 1}


BAD = [
    ('name = "x"\nflavour = "sweet"\n', "flavour", "unknown"),
    ('name = "x"\n[train]\nepochs = "ten"\n', "train.epochs", "integer"),
    ('name = "x"\n[train]\nepochs = 0\n', "train.epochs", "greater than or equal to 1"),
    ('name = "x"\n[neuron]\ntau = 0.5\n', "neuron.tau", "must be >= 1"),
    ('name = "x"\n[neuron]\nlevels = 0\n', "neuron.levels", "must be an integer >= 1"),
    ('name = "x"\n[neuron]\nthreshold = -1.0\n', "neuron.threshold", "must be > 0"),
    ('name = "x"\n[neuron]\nkind = "izhikevich"\n', "neuron.kind", "unknown neuron 'izhikevich'"),
    ('name = "x"\n[neuron]\ntua = 2.0\n', "neuron.tua", "unknown option for neuron kind 'cf'"),
    ('name = "x"\n[model]\nkind = "transformer"\n', "model.kind", "known: convnet"),
    ('name = "x"\n[model]\nhidden = "wide"\n', "model.hidden", "list"),
    ('name = "x"\n[surrogate]\nlearnable = "epoch"\n', "surrogate.learnable", "'none', 'layer' or 'timestep'"),
    ('name = "x"\n[surrogate]\nalpha = 0.01\n', "surrogate.alpha", "alpha_min"),
    ('name = "x"\n[loss]\nbalance = -0.1\n', "loss.balance", "greater than or equal to 0"),
    ('name = "x"\n[loss]\nkind = "hinge"\n', "loss.kind", "unknown loss"),
    ('name = "x"\n[data]\nkind = "mnist"\n', "data.kind", "unknown dataset"),
    ('name = "x"\n[optim]\nkind = "lion"\n', "optim.kind", "sgd"),
    (
        'name = "x"\n[schedule]\nwarmup_epochs = 20\n[train]\nepochs = 5\n',
        "schedule.warmup_epochs",
        "must be < train.epochs",
    ),
    ('name = "x y"\n', "name", "pattern"),
    ("seed = 1\n", "name", "required"),
    ('name = "x"\n[train]\ndevice = "tpu"\n', "train.device", "pattern"),
]


@pytest.mark.parametrize("text,field,words", BAD)
def test_bad_recipes_name_the_file_and_field(tmp_path, text, field, words):
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(CfsnnError) as caught:
        load_recipe(str(path))
    assert caught.value.field == field
    assert caught.value.source == str(path)
    assert words in caught.value.problem
    assert "\n" not in str(caught.value)


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "broken.toml", 'name = "x"\n[train\nepochs = 3\n')
    with pytest.raises(CfsnnError, match=r"broken\.toml: toml: syntax error: .*line 2"):
        load_recipe(str(path))


def test_missing_recipe_lists_the_shipped_ones():
    with pytest.raises(CfsnnError, match=r"recipe: no file 'nope.toml' and no shipped recipe.*quickstart"):
        load_recipe("nope.toml")


def test_extends_in_a_circle_is_refused(tmp_path):
    write(tmp_path, "a.toml", 'extends = "b.toml"\nname = "a"\n')
    write(tmp_path, "b.toml", 'extends = "a.toml"\nname = "b"\n')
    with pytest.raises(CfsnnError, match="circle"):
        load_recipe(str(tmp_path / "a.toml"))


def test_bad_override_syntax():
    with pytest.raises(CfsnnError, match=r"^overrides: expected section.field=value"):
        load_recipe("quickstart", ["optim.lr"])


@pytest.mark.parametrize(
    "overrides,field",
    [
        (["model.dropout=1.5"], "model.dropout"),
        (["model.hidden=[0]"], "model.hidden.0"),
        (["model.hidden=[]"], "model.hidden"),
        (["loss.label_smoothing=2.0"], "loss.label_smoothing"),
        (["loss.kind=tet", "loss.tet_lambda=-1.0"], "loss.tet_lambda"),
        (["optim.lr=inf"], "optim.lr"),
        (["neuron.threshold=inf"], "neuron.threshold"),
        (["data.kind=digits-events", "data.drop=2.0"], "data.drop"),
        (["data.kind=digits-events", "data.contrast=5.0"], "data.contrast"),
        (["data.kind=nmnist", "data.frame_size=64"], "data.frame_size"),  # above the 34-pixel sensor
        (["neuron.v_init=nan"], "neuron.v_init"),
        (["optim.kind=sgd", "optim.nesterov=true", "optim.momentum=0.0"], "optim.nesterov"),
        (["neuron.kind.x=1"], "neuron.kind"),
    ],
)
def test_recipes_check_catches_builder_bounds_before_building(overrides, field):
    with pytest.raises(CfsnnError) as caught:
        load_recipe("quickstart", overrides)
    assert caught.value.field == field
