"""The rooms of docs/architecture.md keep to what they may import: no import runs upward."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cfsnn_cli"

# room → the rooms it must not import (docs/architecture.md, "What each room may import")
FORBIDDEN = {
    "surrogates": {"neurons", "losses", "models", "data", "quant", "engine", "sweep", "cli"},
    "neurons": {"losses", "models", "data", "quant", "engine", "sweep", "cli"},
    "losses": {"models", "data", "quant", "engine", "sweep", "cli"},
    "models": {"data", "quant", "engine", "sweep", "cli"},
    "data": {"models", "quant", "engine", "sweep", "cli"},
    "quant": {"data", "engine", "sweep", "cli"},
    "engine": {"sweep", "cli"},
    "sweep": {"cli"},
}


def imported_rooms(path: Path) -> set[str]:
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        rooms |= {name.split(".")[1] for name in names if name.startswith("cfsnn_cli.")}
    return rooms


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_no_import_runs_upward(room):
    for path in sorted((PACKAGE / room).rglob("*.py")):
        upward = imported_rooms(path) & FORBIDDEN[room]
        assert not upward, f"{path.relative_to(PACKAGE)} imports {sorted(upward)}"


def test_the_check_sees_an_upward_import(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("from cfsnn_cli.cli.console import console\n")
    assert imported_rooms(planted) == {"cli"}
