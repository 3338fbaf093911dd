"""Every registered builder documents itself: help() shows its own docstring, an `Args:` entry for
every recipe option, and a signature free of pydantic internals."""

import math
import pydoc
import re

import pytest
from pydantic import ValidationError

from cfsnn_cli.data import DATASETS
from cfsnn_cli.losses import TASK_LOSSES, Objective
from cfsnn_cli.models import MODELS
from cfsnn_cli.neurons import NEURONS
from cfsnn_cli.options import options_model
from cfsnn_cli.surrogates import SURROGATES

BUILDERS = [
    pytest.param(registry.get(kind), id=f"{registry.what}-{kind}")
    for registry in (NEURONS, SURROGATES, TASK_LOSSES, MODELS, DATASETS)
    for kind in registry.kinds()
] + [pytest.param(Objective, id="Objective")]


def own_docstring(builder) -> str:
    return builder.__doc__ or ""  # not inspect.getdoc, which falls back to a base class's (nn.Module's)


@pytest.mark.parametrize("builder", BUILDERS)
def test_builder_has_its_own_docstring(builder):
    summary = own_docstring(builder).strip().partition("\n")[0]
    assert summary
    assert summary in pydoc.render_doc(builder, renderer=pydoc.plaintext)


def documented_in(builder, option: str) -> type | None:
    """The class whose docstring documents `option` for `builder`: its own `Args:` entry, or, where
    the docstring says its arguments are "as in `Base`" (a parameter documented once, where it is
    first defined), the class in its ancestry that documents it so, followed as far as it goes."""
    doc = own_docstring(builder)
    if "Args:" not in doc:
        return None
    args = doc.split("Args:", 1)[1]
    if re.search(rf"^\s+{option}( \(.*?\))?:", args, flags=re.M):
        return builder
    for base_name in re.findall(r"as in `(\w+)`", args):
        base = next((cls for cls in builder.__mro__[1:] if cls.__name__ == base_name), None)
        assert base is not None, f"{builder.__name__}'s Args refer to {base_name}, which it does not derive from"
        if found := documented_in(base, option):
            return found
    return None


@pytest.mark.parametrize("builder", BUILDERS)
def test_docstring_has_an_args_entry_for_every_recipe_option(builder):
    for option in options_model(builder).model_fields:
        assert documented_in(builder, option), option


@pytest.mark.parametrize("builder", BUILDERS)
def test_help_shows_no_pydantic_internals(builder):
    assert "FieldInfo" not in pydoc.render_doc(builder, renderer=pydoc.plaintext)


# The bounds help() shows are the bounds recipes are checked against.
@pytest.mark.parametrize(
    "registry,kind,options",
    [
        (MODELS, "mlp", {"hidden": []}),
        (MODELS, "mlp", {"hidden": [0]}),
        (MODELS, "mlp", {"dropout": 1.0}),
        (MODELS, "resnet20", {"width": 0}),
        (DATASETS, "digits-events", {"contrast": 0.0}),
        (DATASETS, "digits-events", {"frame_size": 35}),
        (DATASETS, "nmnist", {"roll": -1}),
        (DATASETS, "shd", {"channels": 701}),
        (DATASETS, "imagefolder", {"image_size": 4}),
        (NEURONS, "lif", {"threshold": math.inf}),
    ],
)
def test_bounds_in_signatures_still_refuse(registry, kind, options):
    with pytest.raises(ValidationError):
        options_model(registry.get(kind)).model_validate(options)


def test_tau_may_be_infinite():
    assert options_model(NEURONS.get("cf")).model_validate({"tau": math.inf}).tau == math.inf


def test_an_inherited_argument_counts_only_where_the_base_documents_it():
    class Documented:
        """Args:
        alpha: documented here.
        """

    class Pointing(Documented):
        """Args: as in `Documented`."""

    assert documented_in(Pointing, "alpha") is Documented
    assert documented_in(Pointing, "beta") is None
