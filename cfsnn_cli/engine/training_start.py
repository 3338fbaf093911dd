"""Where a new run's weights start: fresh, or from `train.init_from` (a float checkpoint, folded
and quantised for a quantised run, or a quantised one to go on from), and for a quantised run
that starts from float the calibration of its integer steps on the first training batch."""

from pathlib import Path

from torch import nn

from cfsnn_cli.data import DatasetSplit
from cfsnn_cli.engine.build import build_loader, build_model, quantization
from cfsnn_cli.engine.model_file import ModelCheckpoint, load_model_checkpoint
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.quant.prepare import calibrate
from cfsnn_cli.recipe import Recipe

INIT_FROM = "train.init_from"


def starting_model(recipe: Recipe, train_data: DatasetSplit, resume: bool) -> nn.Module:
    """The model a run trains, on the CPU: built from the recipe, its weights from `train.init_from`
    when set, its integer steps calibrated when it is quantised and starts from float weights
    (a resumed run gets them back from its state instead).

    Raises:
        CfsnnError: `train.init_from` is unreadable, an inference bundle, quantised for a float
            run, or its weights do not fit the recipe's model (named under `train.init_from`).
    """
    start = _init_checkpoint(recipe)
    quantised_start = start is not None and start.recipe.quantize.enabled
    float_weights = start.weights if start is not None and not quantised_start else None
    try:
        model = build_model(recipe, train_data.input_shape, train_data.num_classes, float_weights=float_weights)
        if quantised_start:
            model.load_state_dict(start.weights, strict=True)
    except RuntimeError as error:
        details = " ".join(str(error).split())
        raise CfsnnError(INIT_FROM, f"{start.path}: its weights do not fit this recipe's model: {details}") from None
    if recipe.quantize.enabled and not quantised_start and not resume:
        x_seq, _ = next(iter(build_loader(recipe, train_data, train=True)))
        calibrate(model, x_seq.flatten(0, 1), quantization(recipe))
    return model


def _init_checkpoint(recipe: Recipe) -> ModelCheckpoint | None:
    if not recipe.train.init_from:
        return None
    start = load_model_checkpoint(Path(recipe.train.init_from), what=INIT_FROM)
    if start.folding:
        raise CfsnnError(
            INIT_FROM,
            f"{start.path} is an inference bundle (batch norm folded); start from the run's model.safetensors",
        )
    if start.recipe.quantize.enabled and not recipe.quantize.enabled:
        raise CfsnnError(INIT_FROM, f"{start.path} is quantised; a float run cannot start from it")
    if start.recipe.quantize.enabled and start.recipe.quantize != recipe.quantize:
        raise CfsnnError(
            INIT_FROM,
            f"{start.path} was quantised with other [quantize] settings, whose steps it keeps; "
            "start from the float run it came from",
        )
    return start
