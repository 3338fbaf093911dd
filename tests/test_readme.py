"""README's code must run as written: a stranger copies it first."""

import re
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_ci_runs_exactly_the_readme_test_command():
    """.ci/run's own extraction of README's block is what README shows, and it checks everything."""
    block = re.search(r"<!-- test-command.*?-->\n```bash\n(.*?)```", README.read_text(), flags=re.S).group(1)
    printed = subprocess.run(
        ["bash", str(README.parent / ".ci" / "run"), "--print"], capture_output=True, text=True, check=True
    ).stdout
    assert printed == block
    for step in ('pip install -e ".[dev]"', "ruff check .", "ruff format --check .", "mkdocs build --strict"):
        assert step in block, step
    assert block.rstrip().endswith("python -m pytest")  # the whole suite, no marker left out


def test_readme_recipe_example_validates(tmp_path):
    from cfsnn_cli.recipe import load_recipe

    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks
    for index, block in enumerate(blocks):
        path = tmp_path / f"example{index}.toml"
        path.write_text(block)
        load_recipe(str(path))


def test_docs_name_every_option_of_every_kind():
    from cfsnn_cli.data import DATASETS
    from cfsnn_cli.losses import TASK_LOSSES
    from cfsnn_cli.models import MODELS
    from cfsnn_cli.neurons import NEURONS
    from cfsnn_cli.options import options_model
    from cfsnn_cli.surrogates import SURROGATES

    text = (README.parent / "docs" / "recipes.md").read_text()
    for registry in (DATASETS, MODELS, NEURONS, SURROGATES, TASK_LOSSES):
        for kind in registry.kinds():
            assert f"`{kind}`" in text, kind
            for option in options_model(registry.get(kind)).model_fields:
                assert f"`{option}`" in text, f"{kind}.{option}"
