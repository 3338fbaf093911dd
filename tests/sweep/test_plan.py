"""A sweep's plan: grid values read as `--set` reads them, every configuration validated before the
first trial, run names that are file names, and a search space read from its TOML file."""

import pytest

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.sweep.literals import split_values
from cfsnn_cli.sweep.plan import GridAxis, make_plan, run_name
from cfsnn_cli.sweep.space import read_space


def plan(*grid, seeds=1, sets=(), trials=None, space=None):
    return make_plan("quickstart", list(sets), list(grid), seeds, trials, space)


def test_commas_inside_lists_and_quotes_belong_to_one_value():
    assert split_values('[256,128],[64], "a,b"') == ["[256,128]", "[64]", '"a,b"']
    axis = GridAxis.parse("model.hidden=[256,128],[64]")
    assert axis.literals == ("[256, 128]", "[64]")


def test_grid_and_seeds_make_every_configuration_once():
    made = plan("neuron.kind=cf,lif", "loss.balance=0,0.1", seeds=2)
    points = made.points()
    assert len(points) == 8 and len({run_name(p) for p in points}) == 8
    assert {p["seed"] for p in points} == {"0", "1"}
    recipe = made.recipe_for({"neuron.kind": '"lif"', "loss.balance": "0.1", "seed": "1"})
    assert (recipe.neuron.kind, recipe.loss.balance, recipe.seed) == ("lif", 0.1, 1)


def test_seeds_start_at_the_recipes_seed():
    made = plan(seeds=3, sets=["seed=5"])
    assert [p["seed"] for p in made.points()] == ["5", "6", "7"]


@pytest.mark.parametrize(
    "grid,field,words",
    [
        (["neuron.kindd=cf,lif"], "neuron.kindd", ["unknown"]),
        (["neuron.tau=2,0.5"], "neuron.tau", ["0.5"]),  # the second value breaks a bound
        (["neuron.kind=cf,"], "grid", ["empty value"]),
        (["neuron.kind="], "grid", ["empty value"]),
        (["neuron.kind"], "grid", ["field=value1"]),
        (["neuron.kind=cf,cf"], "grid", ["twice"]),
        (["neuron.kind=cf", "neuron.kind=lif"], "grid", ["twice"]),
    ],
)
def test_a_bad_grid_is_refused_naming_the_field(grid, field, words):
    with pytest.raises(CfsnnError) as caught:
        plan(*grid)
    message = str(caught.value)
    assert caught.value.field == field, message
    for word in words:
        assert word in message


def test_a_grid_value_that_fails_names_the_grid_and_the_configuration():
    with pytest.raises(CfsnnError) as caught:
        plan("neuron.tau=2,0.5")
    assert caught.value.source == "grid" and "neuron.tau=0.5" in str(caught.value)


def test_seed_in_the_grid_and_seeds_conflict():
    with pytest.raises(CfsnnError, match="swept by `seeds`"):
        plan("seed=0,1", seeds=2)


def test_run_names_are_safe_file_names_and_never_meet():
    plain = run_name({"neuron.kind": '"cf"', "seed": "0"})
    assert plain == "neuron.kind=cf,seed=0"
    odd = run_name({"model.hidden": "[256, 128]"})
    assert "/" not in odd and " " not in odd and "[" not in odd
    assert odd != run_name({"model.hidden": "[256, 12]"})


def test_the_definition_names_the_study_alike_in_every_process():
    first = plan("neuron.kind=cf,lif", seeds=2)
    second = plan("neuron.kind=cf,lif", seeds=2)
    assert first.study_name() == second.study_name()
    assert first.study_name() != plan("neuron.kind=cf,lif", seeds=3).study_name()


SPACE = """
["optim.lr"]
low = 1e-4
high = 1e-2
log = true

[neuron.levels]
low = 1
high = 3

["loss.balance"]
choices = [0.0, 0.1, 1.0]
"""


def test_a_space_file_gives_float_int_and_choice_dimensions(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(SPACE)
    space = read_space(path)
    assert set(space) == {"optim.lr", "neuron.levels", "loss.balance"}
    assert space["optim.lr"].log and not space["optim.lr"].is_integer
    assert space["neuron.levels"].is_integer
    assert space["loss.balance"].choices == ("0.0", "0.1", "1.0")
    assert plan(trials=4, space=path).is_search


@pytest.mark.parametrize(
    "text,words",
    [
        ("[x\n", ["syntax error"]),
        ('["optim.lr"]\nlow = 1\n', ["needs low and high"]),
        ('["optim.lr"]\nlow = 1\nhigh = 0.5\n', ["low must be < high"]),
        ('["optim.lr"]\nlow = 0\nhigh = 1\nlog = true\n', ["log range needs low > 0"]),
        ('["optim.lr"]\nlow = 0.1\nhigh = 1\nlow_ = 3\n', ["unknown key"]),
        ('["optim.lr"]\nchoices = []\n', ["non-empty"]),
        ('["neuron.tau"]\nlow = 0.5\nhigh = 4\n', ["neuron.tau"]),  # an end of the range is no valid recipe
        ("", ["names no field"]),
    ],
)
def test_a_bad_space_file_is_one_error_naming_the_file(tmp_path, text, words):
    path = tmp_path / "space.toml"
    path.write_text(text)
    with pytest.raises(CfsnnError) as caught:
        plan(trials=3, space=path)
    message = str(caught.value)
    assert str(path) in message, message
    for word in words:
        assert word in message, message


def test_an_unreadable_space_file_is_named(tmp_path):
    with pytest.raises(CfsnnError, match="cannot read"):
        plan(trials=3, space=tmp_path / "missing.toml")


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"trials": 3}, "space_file"),
        ({"trials": 0, "space": "s"}, "trials"),
        ({"trials": 3, "space": "s", "seeds": 2}, "seeds"),
        ({"space": "s"}, "space_file"),
        ({"seeds": 0}, "seeds"),
    ],
)
def test_search_options_must_go_together(tmp_path, kwargs, field):
    if "space" in kwargs:
        kwargs["space"] = tmp_path / "space.toml"
        kwargs["space"].write_text(SPACE)
    with pytest.raises(CfsnnError) as caught:
        plan(**kwargs)
    assert caught.value.field == field


def test_one_value_in_two_spellings_is_refused():
    with pytest.raises(CfsnnError, match="same recipe"):
        plan("loss.balance=1,1.0")


def test_the_order_of_axes_and_values_does_not_change_the_sweep():
    first = plan("neuron.kind=cf,lif", "loss.balance=0,0.1")
    second = plan("loss.balance=0.1,0", "neuron.kind=lif,cf")
    assert first.definition() == second.definition() and first.study_name() == second.study_name()


def test_a_search_with_more_trials_is_the_same_search(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(SPACE)
    assert plan(trials=4, space=path).study_name() == plan(trials=40, space=path).study_name()


@pytest.mark.parametrize(
    "text,field",
    [
        ('["optim.lr"]\nlow = 0.1\nhigh = 1\n\n[optim]\nlr = {low = 0.2, high = 2}\n', "optim.lr"),
        ('["seed"]\nlow = 0\nhigh = 9\n', "seed"),
    ],
)
def test_a_field_named_twice_or_the_seed_is_refused_in_a_space(tmp_path, text, field):
    path = tmp_path / "space.toml"
    path.write_text(text)
    with pytest.raises(CfsnnError) as caught:
        plan(trials=3, space=path)
    assert caught.value.field == field and str(path) in str(caught.value)
