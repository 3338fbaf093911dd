import json
from dataclasses import dataclass
from pathlib import Path

from safetensors import safe_open

from cfsnn_cli.engine.report import Reporter
from cfsnn_cli.engine.safetensors_file import DIGEST_KEY, write_safetensors
from cfsnn_cli.engine.training_ends import StopRequest
from cfsnn_cli.recipe import load_recipe

TINY = ["model.hidden=[32]", "train.epochs=2", "data.batch_size=64"]


def tiny_recipe(*overrides: str):
    """The quickstart shrunk to a couple of seconds."""
    return load_recipe("quickstart", [*TINY, *overrides])


def write_mismatched_checkpoint(source: Path, target: Path) -> Path:
    """A copy of a quickstart checkpoint whose stored recipe asks for 64 hidden units, not 32, written
    (and sealed) by cfsnn as a checkpoint of another recipe would be."""
    with safe_open(str(source), "pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    recipe = json.loads(metadata["recipe"])
    recipe["model"]["hidden"] = [64]
    metadata["recipe"] = json.dumps(recipe)
    del metadata[DIGEST_KEY]
    write_safetensors(target, tensors, metadata)
    return target


@dataclass
class StopAfter(Reporter):
    """Plays the signal handler: asks for a stop once `steps` steps have run."""

    stop: StopRequest
    steps: int
    seen: int = 0

    def step_finished(self, event):
        self.seen += 1
        if self.seen == self.steps:
            self.stop.request("SIGINT")
