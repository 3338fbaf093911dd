"""The library's errors speak of keywords, recipe fields and files; the command line's of flags."""

import ast
import re
from pathlib import Path

import pytest

import cfsnn_cli
from cfsnn_cli.cli.typed_flags import FLAG_OF_KEYWORD, as_typed
from cfsnn_cli.errors import CfsnnError

PACKAGE = Path(cfsnn_cli.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z]")


def _library_files():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "cli" not in path.relative_to(PACKAGE).parts[:1]:
            yield path


def _error_texts(tree: ast.AST):
    """Every string written into a CfsnnError or a `require` below the CLI (f-strings included)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("CfsnnError", "require"):
            for argument in node.args:
                for part in ast.walk(argument):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        yield node.lineno, part.value


def test_no_library_error_names_a_command_line_flag():
    named = [
        f"{path.relative_to(PACKAGE)}:{line}: {text!r}"
        for path in _library_files()
        for line, text in _error_texts(ast.parse(path.read_text(encoding="utf-8")))
        if FLAG.search(text)
    ]
    assert not named, "library errors should name keywords, fields or files:\n" + "\n".join(named)


def test_the_scan_sees_library_errors():
    # the rule above holds only if the scan reads the errors: it finds those of engine/ and sweep/
    texts = [text for path in _library_files() for _, text in _error_texts(ast.parse(path.read_text()))]
    assert len(texts) > 100 and any("already holds files" in text for text in texts)


@pytest.mark.parametrize(
    "library,typed",
    [
        (
            CfsnnError("batch_size", "out of memory; try `batch_size=8` (or fewer `timesteps`)"),
            "--batch-size: out of memory; try --batch-size 8 (or fewer --timesteps)",
        ),
        (
            CfsnnError("run_dir", "runs/a already holds files; continue that run: `run_dir=runs/a, resume=True`"),
            "--out: runs/a already holds files; continue that run: cfsnn train --resume runs/a",
        ),
        (
            CfsnnError("timesteps", "only `fmt=onnx, onnx_mode=unrolled` has a fixed T"),
            "--timesteps: only --format onnx --onnx-mode unrolled has a fixed T",
        ),
        (CfsnnError("neuron.tau", "must be > 1", "overrides"), "--set: neuron.tau: must be > 1"),
        (CfsnnError("neuron.tau", "must be > 1", "recipes/a.toml"), "recipes/a.toml: neuron.tau: must be > 1"),
        # a recipe field, or a backticked word that is no keyword, is left as written
        (
            CfsnnError("data.timesteps", "see `train.batch_size=8` and `seed`"),
            "data.timesteps: see `train.batch_size=8` and `seed`",
        ),
    ],
)
def test_keywords_become_the_flags_a_user_typed(library, typed):
    assert str(as_typed(library)) == typed


def test_every_keyword_is_a_flag_of_some_command():
    from typer.main import get_command

    from cfsnn_cli.cli.app import app

    def flags(command):
        for parameter in command.params:
            yield from parameter.opts
        for sub in getattr(command, "commands", {}).values():
            yield from flags(sub)

    typed = set(flags(get_command(app)))
    assert set(FLAG_OF_KEYWORD.values()) <= typed, set(FLAG_OF_KEYWORD.values()) - typed
