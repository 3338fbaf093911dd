"""`cfsnn compare`'s table: one row per configuration, mean ± std over seeds, fitted to the terminal."""

import json
from typing import Any

from rich import box
from rich.table import Table

MISSING = "—"  # a number no run measured, or a field a recipe lacks


def comparison_title(comparison) -> str:
    runs, configurations = len(comparison.runs), len(comparison.configurations)
    return (
        f"{', '.join(comparison.names)}: {runs} run{'s' * (runs != 1)} in "
        f"{configurations} configuration{'s' * (configurations != 1)}"
    )


def field_value(value: Any) -> str:
    """A recipe value as a recipe writes it: cf, 0.1, [256], true."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    return json.dumps(value)


def spread(summary, scale: float, digits: int) -> str:
    """mean ± std; the mean alone for one run; — where a run lacks the number or none finished."""
    if summary.mean is None:
        return MISSING
    text = f"{scale * summary.mean:.{digits}f}"
    # no space after ±: on a narrow terminal the cell breaks between mean and std, never inside "± std"
    return text if summary.std is None else f"{text} ±{scale * summary.std:.{digits}f}"


def si_figure(value: float) -> str:
    """Three significant digits with an SI prefix: 8029 → 8.03k, 1.234e9 → 1.23G."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}"
    return f"{value:.3g}"


def si_spread(summary) -> str:
    """`spread` for counts that span orders of magnitude (SynOps, pJ): 8.03k ±112."""
    if summary.mean is None:
        return MISSING
    text = si_figure(summary.mean)
    return text if summary.std is None else f"{text} ±{si_figure(summary.std)}"


def scaled_figure(value: float | None, scale: float, digits: int) -> str:
    """`value` times `scale` to `digits` decimals (100 makes a fraction a percentage); a dash if missing."""
    return MISSING if value is None else f"{scale * value:.{digits}f}"


def field_header(field: str, split: bool) -> str:
    """`loss.balance`, or on two lines (`loss.` over `balance`) where the table must be narrower."""
    section, dot, name = field.partition(".")
    return f"{section}{dot}\n{name}" if split and dot else field


def print_comparison(comparison, out) -> None:
    """One row per configuration: its values of the differing fields, how many finished seeds,
    and their means ± sample std. Each unfinished run follows its configuration in a row of its
    own (epochs done/planned) and is left out of the means. The fields' names are broken after
    their section where the table would not fit `out`'s width in one line per row; a table that
    cannot fit even so is printed at the width it needs (a terminal folds its lines), never with
    a number cut short."""
    title = comparison_title(comparison)
    table = _comparison_table(comparison, title, split_fields=False)
    if out.measure(table, options=out.options.update_width(10_000)).maximum > out.width:
        table = _comparison_table(comparison, title, split_fields=True)
    needed = out.measure(table, options=out.options.update_width(10_000)).minimum
    out.print(table, width=max(out.width, needed), crop=False)


def _comparison_table(comparison, title: str, split_fields: bool) -> Table:
    notes = ["mean ± sample std over seeds"]
    repeated = [c for c in comparison.configurations if c.repeated_seeds]
    if repeated:
        seeds = ", ".join(field_value(seed) for seed in repeated[0].repeated_seeds)
        notes.append(
            f"{len(repeated)} configuration(s) hold a seed more than once (seed {seeds}): "
            "those runs are not independent, and their std is too small"
        )
    if any(configuration.unfinished for configuration in comparison.configurations):
        notes.append("a row 'seed N' is an unfinished run (epochs done/planned), left out of the means")
    if comparison.passed_over:
        notes.append(f"{len(comparison.passed_over)} trial folder(s) without a recipe.toml passed over")
    front = comparison.front()
    if any(front):
        notes.append("* on the front of final accuracy against SynOps: no other row is as accurate for fewer")
    table = Table(title=title, caption="; ".join(notes), box=box.SIMPLE_HEAVY, show_edge=False, padding=(0, 0, 0, 1))
    rows: list[tuple[list[str], str | None]] = []  # cells and style: a table's widths need every cell first
    for configuration, on_front in zip(comparison.configurations, front, strict=True):
        cells = [
            *(field_value(value) for value in configuration.fields.values()),
            str(len(configuration.finished)),
            str(configuration.epochs),
            spread(configuration.summary("final_accuracy"), 100, 2),
            spread(configuration.summary("best_accuracy"), 100, 2),
            scaled_figure(configuration.summary("seconds").mean, 1, 1),
            spread(configuration.summary("firing_rate"), 1, 3),
            si_spread(configuration.summary("synops")),
            si_spread(configuration.summary("energy")),
            "*" if on_front else "",
        ]
        rows.append((cells, None))
        for run in configuration.unfinished:
            cells = [
                *([""] * len(comparison.fields)),
                f"seed {field_value(run.recipe.get('seed'))}",
                f"{len(run.history)}/{run.planned_epochs}",
                scaled_figure(run.final_accuracy, 100, 2),
                scaled_figure(run.best_accuracy, 100, 2),
                scaled_figure(run.seconds, 1, 1),
                scaled_figure(run.firing_rate, 1, 3),
                MISSING if run.synops is None else si_figure(run.synops),
                MISSING if run.energy is None else si_figure(run.energy),
                "",
            ]
            rows.append((cells, "dim"))

    def widest_word(index: int, header: str) -> int:
        # a column may wrap between words (mean, then ±std) but never narrower than its longest
        # word: rich would otherwise cut a number to "86.…" on a narrow terminal
        words = [word for cells, _ in rows for word in cells[index].split()]
        if split_fields:
            words += header.split()
        return max(map(len, words), default=1)

    headers = [field_header(field, split_fields) for field in comparison.fields]
    headers += ["seeds", "epochs", "final acc %", "best acc %", "time s", "firing rate", "SynOps", "energy pJ", "front"]
    if not any(run.synops is not None for run in comparison.runs):  # runs from before costs were recorded
        headers, rows = headers[:-3], [(cells[:-3], style) for cells, style in rows]
    for index, header in enumerate(headers):
        justify = "left" if index < len(comparison.fields) else "right"
        table.add_column(header, justify=justify, overflow="fold", min_width=widest_word(index, header))
    for cells, style in rows:
        table.add_row(*cells, style=style)
    return table
