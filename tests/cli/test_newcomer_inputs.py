"""Regressions from a newcomer's walk through the CLI (issue 8): nothing the user owns is lost,
nothing the user wrote is silently dropped or coerced, every mistake is one line with exit code 2."""

import hashlib

import pytest
import torch
from typer.testing import CliRunner

from cfsnn_cli.cli.app import app
from cfsnn_cli.errors import CfsnnError
from tests.cli.helpers import refused

pytestmark = pytest.mark.slow  # most tests here read a checkpoint trained for them by the real CLI


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("newcomer") / "d3"
    sets = ["model.hidden=[16]", "train.epochs=1", "surrogate.alpha=3", "surrogate.kind=atan"]
    result = run("train", "quickstart", *[arg for s in sets for arg in ("--set", s)], "--out", out)
    assert result.exit_code == 0, result.output
    return out


# -- 1. an output never replaces a checkpoint, a state file or what the command reads ----------------


@pytest.mark.parametrize(
    "option,target", [("--json", "model.safetensors"), ("--plot", "best.safetensors"), ("--json", "state.safetensors")]
)
def test_eval_outputs_never_overwrite_weights_or_state(run_dir, option, target):
    before = {path.name: digest(path) for path in run_dir.glob("*.safetensors")}
    refused(run("eval", "--ckpt", run_dir, option, run_dir / target), option, target)
    assert {path.name: digest(path) for path in run_dir.glob("*.safetensors")} == before


def test_eval_outputs_never_overwrite_a_safetensors_file_by_another_name(run_dir, tmp_path):
    renamed = tmp_path / "weights.json"  # the suffix the option takes: only the bytes say what it is
    renamed.write_bytes((run_dir / "best.safetensors").read_bytes())
    refused(run("eval", "--ckpt", run_dir, "--json", renamed), "--json", "safetensors")
    assert renamed.read_bytes() == (run_dir / "best.safetensors").read_bytes()
    (tmp_path / "x.png").symlink_to(tmp_path / "x.json")  # two names, each with its option's suffix, one file
    refused(run("eval", "--ckpt", run_dir, "--json", tmp_path / "x.json", "--plot", tmp_path / "x.png"), "same file")


# -- 2. an option written explicitly is never dropped by a kind change ---------------------------------


@pytest.mark.parametrize(
    "order", [("surrogate.alpha=3", "surrogate.kind=atan"), ("surrogate.kind=atan", "surrogate.alpha=3")]
)
def test_an_explicit_alpha_survives_a_surrogate_kind_change_in_either_order(order):
    result = run("recipes", "show", "quickstart", "--set", order[0], "--set", order[1])
    assert result.exit_code == 0, result.output
    assert "\nalpha = 3.0\n" in result.stdout


def test_the_run_trains_with_the_alpha_it_was_given(run_dir):
    from cfsnn_cli.engine.model_file import load_model_checkpoint

    assert "\nalpha = 3.0\n" in (run_dir / "recipe.toml").read_text()
    assert load_model_checkpoint(run_dir).recipe.surrogate.options()["alpha"] == 3


def test_an_inherited_alpha_gives_way_to_the_new_kinds_and_is_spelled_out():
    result = run("recipes", "show", "quickstart", "--set", "surrogate.kind=atan")
    assert result.exit_code == 0 and "\nalpha = 2.0\n" in result.stdout  # atan's own default, shown


# -- 3. an inherited option of another type falls back to the new kind's default ----------------------


@pytest.mark.parametrize(
    "recipe,kind,shown",
    [("quickstart", "convnet", "hidden = 128"), ("digits-events", "mlp", "hidden = [\n    256,\n]")],
)
def test_a_model_kind_change_takes_the_new_kinds_defaults(recipe, kind, shown):
    result = run("recipes", "show", recipe, "--set", f"model.kind={kind}")
    assert result.exit_code == 0, result.output
    assert shown in result.stdout


# -- 4. nonsense is refused: cross-field bounds, options the kind ignores, wrong types -------------------


@pytest.mark.parametrize(
    "override,field",
    [
        ("schedule.min_lr=0.1", "schedule.min_lr"),
        ("schedule.warmup_epochs=20", "schedule.warmup_epochs"),
        ("optim.momentum=0.5", "optim.momentum"),
        ("schedule.gamma=0.5", "schedule.gamma"),
        ("neuron.bipolar=yes", "neuron.bipolar"),
        ('data.timesteps="8"', "data.timesteps"),
        ("train.epochs=2.0", "train.epochs"),
    ],
)
def test_nonsense_on_the_command_line_is_refused(override, field):
    refused(run("recipes", "show", "quickstart", "--set", override), "--set", field)


def test_a_wrong_type_in_a_file_is_refused_not_coerced(tmp_path):
    recipe = tmp_path / "mine.toml"
    recipe.write_text('extends = "quickstart"\nname = "mine"\n[neuron]\nbipolar = "yes"\n')
    refused(run("recipes", "check", recipe), str(recipe), "neuron.bipolar")


# -- 6. T is bounded at eval as in recipes; memory trouble is advice, a failed run leaves no cache -----


@pytest.mark.parametrize("steps", [100_000, 4097])
def test_eval_timesteps_has_the_recipe_bound(run_dir, steps):
    result = run("eval", "--ckpt", run_dir, "--timesteps", steps)
    assert result.exit_code == 2 and "4096" in result.output


def test_running_out_of_memory_is_one_line_with_a_smaller_batch_size(run_dir, monkeypatch):
    from cfsnn_cli.engine import evaluate

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 36.00 GiB")

    monkeypatch.setattr(evaluate, "evaluate", exhausted)
    line = refused(run("eval", "--ckpt", run_dir, "--batch-size", 64), "--batch-size", "out of memory")
    assert "--batch-size 16" in line


def test_a_large_new_cache_is_announced_and_a_failed_run_leaves_none(tmp_path, capsys):
    from cfsnn_cli.data import DATASETS
    from cfsnn_cli.data.frames import discarded_if_unfinished

    split = DATASETS.get("digits-events")("test", augment=False, timesteps=4096, cache_dir=str(tmp_path))
    assert "GiB of frame cache" in capsys.readouterr().err  # said before a single frame is written
    folder = split.dataset.cache.folder
    with pytest.raises(RuntimeError), discarded_if_unfinished(split):
        split.dataset[0]
        assert folder.is_dir()
        raise RuntimeError("out of memory later on")
    assert not folder.exists()


# -- 7. the state file named where a checkpoint is expected, and accepted by --resume -------------------


def test_the_state_file_is_not_a_checkpoint_and_says_which_are(run_dir):
    refused(run("eval", "--ckpt", run_dir / "state.safetensors"), "--resume", "model.safetensors", "best.safetensors")


def test_resume_accepts_the_state_file_for_its_folder(run_dir):
    refused(run("train", "--resume", run_dir / "state.safetensors"), "already finished its 1 epochs")


# -- 8. --set errors name --set and list what the kind accepts ----------------------------------------


def test_set_errors_name_set_as_their_source_and_list_every_option(tmp_path):
    line = refused(run("recipes", "show", "quickstart", "--set", "neuron.tua=2"), "--set", "neuron.tua")
    for option in ("tau", "learn_tau", "threshold", "levels", "bipolar", "detach_reset", "v_init"):
        assert option in line
    line = refused(run("recipes", "show", "quickstart", "--set", "optim.betas=1"), "--set", "optim.betas")
    assert "lr" in line and "momentum" in line
    refused(run("train", "quickstart", "--set", "neuron.tau=0.5", "--out", tmp_path / "r"), "--set", "neuron.tau")


# -- 10. the library refuses inputs it cannot take, naming the problem ---------------------------------


def test_objective_and_neurons_name_shapes_they_cannot_take():
    from cfsnn_cli.losses import Objective
    from cfsnn_cli.neurons import CFNeuron

    with pytest.raises(CfsnnError, match=r"logits_seq: must be per-step logits \[T, B, K\]"):
        Objective("ce")(torch.zeros(8, 10), torch.zeros(8, dtype=torch.long))
    with pytest.raises(CfsnnError, match="T = 0"):
        Objective("ce")(torch.zeros(0, 8, 10), torch.zeros(8, dtype=torch.long))
    with pytest.raises(CfsnnError, match="x_seq: must be a sequence"):
        CFNeuron()(torch.tensor(1.0))
    with pytest.raises(CfsnnError, match="T = 0"):
        CFNeuron()(torch.zeros(0, 3, 4))


def test_a_mistake_in_the_file_names_the_file_even_when_set_touches_its_section(tmp_path):
    recipe = tmp_path / "mine.toml"
    recipe.write_text('extends = "quickstart"\nname = "mine"\n[neuron]\nlevels = 0\n')
    # train, not `recipes show`: levels >= 1 is a constructor's bound, which show leaves to train and check
    line = refused(
        run("train", recipe, "--set", "neuron.tau=3", "--out", tmp_path / "run"), str(recipe), "neuron.levels"
    )
    assert "--set" not in line
