"""`cfsnn recipes`'s table of the shipped recipes."""

from rich.table import Table

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
