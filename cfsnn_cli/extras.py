"""Optional features live in pip extras (`cfsnn[tensorboard]`, …); asking for one whose packages
are missing is a user mistake, refused before any work starts with the install line to run."""

import importlib.util
from collections.abc import Iterable

from cfsnn_cli.errors import CfsnnError


def installed(module: str) -> bool:
    """Whether `module` (a top-level name, or dotted) can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a module without a spec
        return False


def require_extra(modules: str | Iterable[str], extra: str, field: str) -> None:
    """Refuse with one CfsnnError naming `field` and the pip extra when any of `modules` is missing.

    Args:
        modules: the module name(s) the feature imports (`"tensorboard"`, `("onnx", "onnxscript")`).
        extra: the name in pyproject's `[project.optional-dependencies]` that installs them.
        field: the recipe field or option that asked for the feature (`"train.tensorboard"`).

    Raises:
        CfsnnError: e.g. `train.tensorboard: needs tensorboard, not installed: pip install "cfsnn[tensorboard]"`.
    """
    names = [modules] if isinstance(modules, str) else list(modules)
    missing = [name for name in names if not installed(name)]
    if missing:
        raise CfsnnError(field, f'needs {", ".join(missing)}, not installed: pip install "cfsnn[{extra}]"')
