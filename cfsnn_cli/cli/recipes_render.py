"""`cfsnn recipes`'s table of the shipped recipes."""

from typing import TYPE_CHECKING

from rich.table import Table

from cfsnn_cli.sweep.literals import literal

if TYPE_CHECKING:  # the engine imports torch, which listing recipes does without
    from cfsnn_cli.engine.layer_settings import LayerRow

DESCRIPTION_MIN_WIDTH = 40  # narrower, and a one-sentence description becomes a column of word stubs
DROPPED_FIRST = ("data", "neuron")  # what descriptions already name (the dataset) or rarely differs (the neuron)


def recipes_table(rows: list[dict[str, str]], width: int) -> Table:
    """The recipes, one per row, the description last and wrapping; the other columns never wrap.
    If the description would get fewer than DESCRIPTION_MIN_WIDTH characters (80 columns), the
    columns that say least go, so that what each recipe is for stays readable."""
    fields = [column for column in rows[0] if column != "description"] if rows else []

    def fixed_width(columns):  # each column: its widest cell plus a space either side and a border
        return sum(max(len(column), *(len(row[column]) for row in rows)) + 3 for column in columns) + 1

    if width - fixed_width(fields) - 3 < DESCRIPTION_MIN_WIDTH:
        fields = [column for column in fields if column not in DROPPED_FIRST]
    table = Table(title="shipped recipes")
    for column in fields:
        table.add_column(column, no_wrap=True)
    table.add_column("description", ratio=1)
    for row in rows:
        table.add_row(*(row[column] for column in fields), row["description"])
    return table


def layers_comment(rows: list["LayerRow"]) -> str:
    """The model's neuron layers as TOML comments (so that `recipes show`'s output stays a recipe):
    each layer's neuron and surrogate kinds, the fields its `[layers]` entries change and which
    entries match it."""
    widths = [max(len(getattr(row, column)) for row in rows) for column in ("layer", "neuron", "surrogate")]
    lines = [
        f"# The model's neuron layers ({len(rows)}) as [layers] sets them: layer, neuron kind, surrogate kind,",
        "# the fields that differ from [neuron] and [surrogate], and the entries that match the layer.",
    ]
    for row in rows:
        cells = [row.layer.ljust(widths[0]), row.neuron.ljust(widths[1]), row.surrogate.ljust(widths[2])]
        changed = ", ".join(f"{field} = {literal(value)}" for field, value in row.differs.items())
        matched = f"  ({', '.join(f'layers.{entry}' for entry in row.entries)})" if row.entries else ""
        lines.append(f"#   {'  '.join(cells)}  {changed}{matched}".rstrip())
    return "\n".join(lines) + "\n"
