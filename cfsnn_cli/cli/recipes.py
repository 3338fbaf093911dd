"""`cfsnn recipes`: list the shipped recipes, show one resolved, check files."""

from typing import Annotated

import typer

from cfsnn_cli.cli.typed_flags import as_typed
from cfsnn_cli.errors import EXIT_USER_ERROR, CfsnnError

app = typer.Typer(help="List, show and check recipes.", no_args_is_help=False)


@app.callback(invoke_without_command=True)
def list_recipes(context: typer.Context) -> None:
    """List the recipes that ship with cfsnn (run one by name: `cfsnn train NAME`)."""
    if context.invoked_subcommand is not None:
        return
    from cfsnn_cli.cli.console import console
    from cfsnn_cli.cli.recipes_render import recipes_table
    from cfsnn_cli.recipe import load_recipe, shipped_recipes

    rows = []
    for name in shipped_recipes():
        recipe = load_recipe(name, construct=False)  # listing: no torch (tests validate them whole)
        rows.append(
            {
                "name": name,
                "data": recipe.data.kind,
                "model": recipe.model.kind,
                "neuron": recipe.neuron.kind,
                "T": str(recipe.data.timesteps),
                "epochs": str(recipe.train.epochs),
                "description": recipe.description,
            }
        )
    table = recipes_table(rows, console.width)
    console.print(table)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="A shipped recipe's name or a recipe file.")],
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a field: section.field=value.", show_default=False)
    ] = None,
) -> None:
    """Print a recipe fully resolved (inheritance, overrides and every default) as TOML. Every
    field, type and bound is checked; `recipes check` also builds the model. A recipe with
    `[layers]` entries is matched against its model's layers (built on the meta device), and each
    layer's settings follow as TOML comments."""
    from cfsnn_cli.recipe import load_recipe

    recipe = load_recipe(name, overrides or [], construct=False)
    if not recipe.layers:  # no torch needed
        typer.echo(recipe.to_toml(), nl=False)
        return
    from cfsnn_cli.cli.recipes_render import layers_comment
    from cfsnn_cli.engine.layer_settings import layer_rows

    recipe = load_recipe(name, overrides or [])
    typer.echo(recipe.to_toml() + "\n" + layers_comment(layer_rows(recipe)), nl=False)


@app.command("check")
def check(files: Annotated[list[str], typer.Argument(help="Recipe files (or shipped names) to validate.")]) -> None:
    """Validate recipes and build each one's model on the meta device (no memory, no data), so every
    check a model makes runs; exit code 2 if any is invalid."""
    from cfsnn_cli.engine.build import build_on_meta_device
    from cfsnn_cli.recipe import load_recipe, resolve_recipe_path

    failed = False
    for file in files:
        try:
            recipe = load_recipe(file)
            try:
                model = build_on_meta_device(recipe)
            except CfsnnError as error:
                raise error.from_source(str(resolve_recipe_path(file))) from None
        except CfsnnError as error:
            typer.echo(f"cfsnn: error: {as_typed(error)}", err=True)
            failed = True
        else:
            parameters = sum(parameter.numel() for parameter in model.parameters())
            typer.echo(f"ok: {file} ({recipe.model.kind}, {parameters:,} parameters)")
    if failed:
        raise typer.Exit(EXIT_USER_ERROR)
