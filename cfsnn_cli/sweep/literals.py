"""Recipe values as TOML literals (`"cf"`, `0.1`, `[256, 128]`): the form in which a sweep stores a
configuration. Optuna's storage takes only str, int, float, bool and None as choices; a literal
carries any value a recipe field takes, and turns back into a `--set` override unchanged."""

from typing import Any

import tomli_w


def literal(value: Any) -> str:
    """The TOML literal of a value, on one line: `literal("cf") == '"cf"'`, `literal([256, 128]) == "[256, 128]"`."""
    if isinstance(value, list):  # tomli_w spreads arrays over lines; a run name needs them on one
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(key)} = {literal(item)}" for key, item in value.items()) + "}"
    return tomli_w.dumps({"v": value})[len("v = ") :].strip()


def split_values(text: str) -> list[str]:
    """`cf,lif` → ["cf", "lif"]; commas inside [...] or quotes belong to one value (`[256,128],[512]`)."""
    values, depth, quote, current = [], 0, None, []
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            values.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    values.append("".join(current).strip())
    return values
