"""The library's words, said as a command line.

Errors raised below the CLI name what a library caller passed: a keyword argument (`batch_size`,
`run_dir`), a recipe field or a file; a suggestion in their text is a backticked call fragment
(`` `batch_size=16` ``, `` `run_dir=RUN, resume=True` ``). Someone at a shell typed flags instead, so
a command's error is turned into flags here, once, on its way to stderr: the library never speaks of
a command line its caller did not type, and the command line never speaks of keywords its user did
not type.
"""

import re

from cfsnn_cli.errors import CfsnnError

FLAG_OF_KEYWORD = {
    "batch_size": "--batch-size",
    "ckpt": "--ckpt",
    "data_root": "--data-root",
    "fmt": "--format",
    "grid": "--grid",
    "onnx_mode": "--onnx-mode",
    "opset": "--opset",
    "out": "--out",
    "overrides": "--set",
    "resume": "--resume",
    "run_dir": "--out",
    "seeds": "--seeds",
    "space_file": "--space",
    "storage_url": "--storage",
    "timesteps": "--timesteps",
    "trials": "--search",
    "workers": "--workers",
}

# where a recipe's values came from, when not a file: the keywords that carry recipe fields
_SOURCES = ("overrides", "grid", "space_file")

# a backticked fragment of known keywords: `name`, `name=value`, or several joined by ", "
_KEYWORD = "|".join(sorted(FLAG_OF_KEYWORD, key=len, reverse=True))
_FRAGMENT = re.compile(rf"`((?:{_KEYWORD})(?:=[^`,]*)?(?:, (?:{_KEYWORD})(?:=[^`,]*)?)*)`")


def _as_flags(fragment: str) -> str:
    given = dict(part.partition("=")[::2] for part in fragment.split(", "))
    if given.get("resume") == "True" and "run_dir" in given:
        # train(run_dir=RUN, resume=True) is typed `cfsnn train --resume RUN`
        return f"cfsnn train --resume {given['run_dir']}"
    words = []
    for keyword, value in given.items():
        words.append(FLAG_OF_KEYWORD[keyword])
        if value and value != "True":
            words.append(value)
    return " ".join(words)


def as_typed(error: CfsnnError) -> CfsnnError:
    """`error` in the words of the command line: its keyword a flag, its suggestions flags."""
    field = FLAG_OF_KEYWORD.get(error.field, error.field)
    source = FLAG_OF_KEYWORD[error.source] if error.source in _SOURCES else error.source
    problem = _FRAGMENT.sub(lambda match: _as_flags(match.group(1)), error.problem)
    return CfsnnError(field, problem, source)
