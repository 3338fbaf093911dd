"""The kind catalogue (cfsnn_cli/kinds.json) says exactly what the builders' signatures say, so that a
recipe validated without importing them is validated as if they were read."""

import json

import pytest

from cfsnn_cli import kinds
from cfsnn_cli.options import options_model

KINDS = [(section, kind) for section in kinds.REGISTRIES for kind in kinds.live_registry(section).kinds()]


def test_the_catalogue_is_written_from_the_builders_as_they_are_now():
    written = json.loads(kinds.CATALOGUE.read_text())
    assert written == json.loads(json.dumps(kinds.catalogue_from_registries())), (
        "cfsnn_cli/kinds.json differs from the builders' signatures: run `python -m cfsnn_cli.kinds`"
    )


@pytest.mark.parametrize(("section", "kind"), KINDS)
def test_a_catalogue_entry_is_the_builders_options_model_again(section, kind):
    live = options_model(kinds.live_registry(section).get(kind))
    rebuilt = kinds.options_for(section, kind)
    assert rebuilt is not live  # read from the catalogue, not the registry
    assert rebuilt.model_json_schema() == live.model_json_schema()
    for name, field in live.model_fields.items():
        twin = rebuilt.model_fields[name]
        assert (twin.annotation, twin.metadata, twin.default) == (field.annotation, field.metadata, field.default), name


def test_a_kind_registered_at_run_time_is_read_from_its_builder():
    from cfsnn_cli.neurons import NEURONS, LIFNeuron

    @NEURONS.register("test-only-lif")
    class Mine(LIFNeuron):
        """A user's own neuron kind."""

    try:
        assert set(kinds.options_for("neuron", "test-only-lif").model_fields) == set(
            options_model(LIFNeuron).model_fields
        )
    finally:
        NEURONS._entries.pop("test-only-lif")
