"""A recipe's `[layers]`: neuron and surrogate fields set layer by layer, matched by module path.

    [layers.attention]                                # the entry's name: `layers.attention.…` in --set
    match = "blocks.*.attention.attention_neuron"     # a glob, or a list of globs
    neuron.threshold = 1.0                            # any [neuron] field, kind included
    surrogate = { kind = "atan" }                     # any [surrogate] field, kind included

A glob is matched against the whole module path of each neuron layer of the model (the names
`cfsnn profile-spikes` and `cfsnn recipes show` print): `*` stands for any run of characters within
one name between dots, `**` for any run across dots, `?` for one character and `[…]` for one of
the characters listed (`[!…]`: one not listed).

Precedence: a layer no entry matches takes the recipe's `[neuron]` and `[surrogate]`; a layer that
entries match takes those sections with the entries' fields written over them, as a child recipe's
are over its parent's (a field that changes the kind keeps only the fields that carry over to the
new kind). Entries have no order: two entries that match one layer and set one field to different
values contradict each other and are refused, naming both. An entry whose glob matches no layer is
refused with the layers' names; a field the layer's kind does not take is refused naming the entry.
"""

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.options import first_problem
from cfsnn_cli.recipe_sections import KindSection, NeuronSection, SurrogateSection, merge_section

if TYPE_CHECKING:
    from cfsnn_cli.recipe import Recipe

ENTRY_NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"  # a key `--set layers.NAME.…` can reach
GLOB_CHARACTERS = re.compile(r"[A-Za-z0-9_.*?\[\]!-]+")
SETTABLE = {"neuron": NeuronSection, "surrogate": SurrogateSection}


class LayerEntry(BaseModel):
    """One `[layers.NAME]` entry: which layers (`match`) and the fields it sets on them."""

    model_config = ConfigDict(extra="forbid", strict=True)
    # Any here and checked by `globs`: pydantic would name the failed member of a union
    # ("match.constrained-str"), where one line saying what a match is helps more.
    match: Any = Field(description="a glob over the neuron layers' module paths, or a list of globs")
    neuron: dict[str, Any] = Field(default_factory=dict, description="[neuron] fields for the matched layers")
    surrogate: dict[str, Any] = Field(default_factory=dict, description="[surrogate] fields for the matched layers")

    def globs(self) -> list[str]:
        """The entry's globs.

        Raises:
            CfsnnError: `match` is not a glob or a non-empty list of globs (field "match").
        """
        globs = [self.match] if isinstance(self.match, str) else self.match
        if not isinstance(globs, list) or not globs or not all(isinstance(glob, str) and glob for glob in globs):
            raise CfsnnError(
                "match",
                f"must be a glob or a list of globs, strings (got {self.match!r}; a name that reads as a "
                'number is quoted: "4")',
            )
        return globs

    def fields(self) -> dict[str, dict[str, Any]]:
        """The fields set, by section ("neuron", "surrogate")."""
        return {"neuron": self.neuron, "surrogate": self.surrogate}


LayerEntries = dict[Annotated[str, StringConstraints(pattern=ENTRY_NAME)], LayerEntry]


def glob_regex(glob: str) -> re.Pattern:
    """The regular expression a layer glob stands for (see the module's docstring).

    Raises:
        CfsnnError: a character a module path cannot hold, or a `[` left open (field "match").
    """
    if not GLOB_CHARACTERS.fullmatch(glob):
        raise CfsnnError("match", f"{glob!r} holds a character no module path has (globs take names, ., *, ?, [...])")
    parts, index = [], 0
    while index < len(glob):
        char = glob[index]
        if glob.startswith("**", index):
            parts.append(".*")
            index += 2
            continue
        if char == "*":
            parts.append(r"[^.]*")
        elif char == "?":
            parts.append(r"[^.]")
        elif char == "[":
            end = glob.find("]", index + 1)
            negated = glob.startswith("[!", index)
            members = glob[index + (2 if negated else 1) : end]
            if end == -1 or not members:
                raise CfsnnError("match", f"{glob!r} opens a [ it does not close with characters inside")
            # each character literal but a `-` between two, which spans a range as in fnmatch: [0-3]
            members = "".join(member if member == "-" else re.escape(member) for member in members)
            parts.append(f"[^.{members}]" if negated else f"[{members}]")
            index = end
        else:
            parts.append(re.escape(char))
        index += 1
    try:
        return re.compile("".join(parts))
    except re.error as error:  # a range out of order, [3-0]
        raise CfsnnError("match", f"{glob!r} is not a glob cfsnn reads ({error})") from None


def overlaid(section: type[KindSection], base: KindSection, fields: dict[str, Any]) -> KindSection:
    """`base` (the recipe's resolved section) with `fields` written over it and checked as the
    recipe's own section is (types, the kind's options, defaults spelled out).

    Raises:
        CfsnnError: the first problem, its field under the section's name (`neuron.levels`).
    """
    merged = merge_section(section, {"kind": base.kind, **base.options()}, fields)
    try:
        chosen = section.model_validate(merged)
    except ValidationError as error:
        raise first_problem(error, section.section) from None
    chosen.check_kind()
    return chosen


def entry_sections(recipe: "Recipe", name: str) -> tuple[NeuronSection, SurrogateSection]:
    """The neuron and surrogate sections entry `name` gives a layer that it alone matches: what
    the recipe checks of each entry before any model is built.

    Raises:
        CfsnnError: a bad glob, an entry that sets nothing, or a field its kind does not take or a
            bad value, named under `layers.NAME`.
    """
    entry = recipe.layers[name]
    if not entry.neuron and not entry.surrogate:
        raise CfsnnError(f"layers.{name}", "the entry sets no neuron or surrogate field")
    try:
        for glob in entry.globs():
            glob_regex(glob)
    except CfsnnError as error:
        raise error.within(f"layers.{name}") from None
    try:
        return overlaid(NeuronSection, recipe.neuron, entry.neuron), overlaid(
            SurrogateSection, recipe.surrogate, entry.surrogate
        )
    except CfsnnError as error:
        raise entry_error(recipe, name, error) from None


def entry_error(recipe: "Recipe", name: str, error: CfsnnError) -> CfsnnError:
    """`error` about entry `name`'s sections (its field under "neuron" or "surrogate") named where
    the field was written: in the entry, or the recipe's own field that the entry's fields meet."""
    written = {f"{section}.{field}" for section, values in recipe.layers[name].fields().items() for field in values}
    if error.field in written:
        return error.within(f"layers.{name}")
    return CfsnnError(error.field, f"{error.problem} (with layers.{name})")


@dataclass(frozen=True)
class LayerSetting:
    """What one layer takes from `[layers]`.

    Attributes:
        layer: the layer's module path.
        neuron: its resolved neuron section.
        surrogate: its resolved surrogate section.
        entries: the names of the entries that match it, sorted.
        set_by: which entry set each field ("neuron.threshold" → "attention").
    """

    layer: str
    neuron: NeuronSection
    surrogate: SurrogateSection
    entries: tuple[str, ...]
    set_by: dict[str, str]

    def blame(self, error: CfsnnError) -> CfsnnError:
        """`error` (its field under "neuron" or "surrogate") placed under the entry that set the
        field; a field no entry set is the recipe's own, named as such, with the entries that meet
        it on this layer."""
        return blamed(error, self.layer, self.entries, self.set_by)

    def differences(self, recipe: "Recipe") -> dict[str, Any]:
        """The fields ("neuron.threshold", …) whose value differs from the recipe's sections."""
        changed = {}
        for section_name, resolved in (("neuron", self.neuron), ("surrogate", self.surrogate)):
            base = getattr(recipe, section_name)
            theirs = {"kind": base.kind, **base.options()}
            for key, value in {"kind": resolved.kind, **resolved.options()}.items():
                if key not in theirs or theirs[key] != value:
                    changed[f"{section_name}.{key}"] = value
        return changed


def resolve_layers(recipe: "Recipe", layers: list[str]) -> dict[str, LayerSetting]:
    """The settings `[layers]` gives each of `layers` (module paths) that an entry matches.

    Raises:
        CfsnnError: an entry's glob matches none of `layers`; two entries set one field of one
            layer to different values; the fields a layer gets do not fit its kind. Each names the
            entry (`layers.NAME.…`).
    """
    matched: dict[str, list[str]] = {layer: [] for layer in layers}
    for name in sorted(recipe.layers):
        for glob in recipe.layers[name].globs():
            pattern = glob_regex(glob)
            hits = [layer for layer in layers if pattern.fullmatch(layer)]
            if not hits:
                raise CfsnnError(
                    f"layers.{name}.match", f"{glob!r} matches no neuron layer (the layers: {', '.join(layers)})"
                )
            for layer in hits:
                if name not in matched[layer]:
                    matched[layer].append(name)
    return {layer: _setting(recipe, layer, names) for layer, names in matched.items() if names}


def blamed(error: CfsnnError, layer: str, entries: tuple[str, ...], set_by: dict[str, str]) -> CfsnnError:
    """`error` about one layer's resolved field (`neuron.tau`) named where that field was written:
    under the entry that set it, or as the recipe's own field when no entry did."""
    if error.field in set_by:
        return CfsnnError(f"layers.{set_by[error.field]}.{error.field}", f"{error.problem} (layer {layer})")
    meeting = ", ".join(f"layers.{entry}" for entry in entries)
    return CfsnnError(error.field, f"{error.problem} (layer {layer}, with {meeting})")


def _setting(recipe: "Recipe", layer: str, names: list[str]) -> LayerSetting:
    fields: dict[str, dict[str, Any]] = {"neuron": {}, "surrogate": {}}
    set_by: dict[str, str] = {}
    for name in names:
        for section, values in recipe.layers[name].fields().items():
            for field, value in values.items():
                key = f"{section}.{field}"
                if key in set_by and fields[section][field] != value:
                    raise CfsnnError(
                        f"layers.{name}.{key}",
                        f"sets {value!r} for layer {layer}, which layers.{set_by[key]} sets to "
                        f"{fields[section][field]!r}: entries have no order, so narrow one entry's match",
                    )
                fields[section][field] = value
                set_by.setdefault(key, name)
    for section, values in fields.items():
        _check_meant_for_the_kind(recipe, layer, section, values, set_by)
    try:
        neuron = overlaid(NeuronSection, recipe.neuron, fields["neuron"])
        surrogate = overlaid(SurrogateSection, recipe.surrogate, fields["surrogate"])
    except CfsnnError as error:
        raise blamed(error, layer, tuple(names), set_by) from None
    return LayerSetting(layer, neuron, surrogate, tuple(names), set_by)


def _check_meant_for_the_kind(
    recipe: "Recipe", layer: str, section: str, values: dict[str, Any], set_by: dict[str, str]
) -> None:
    """Each entry was checked alone against the recipe's kind. Where one entry changes a layer's
    kind, a field another entry set for the recipe's kind means the new kind's only if it carries
    over (a sigmoid's α is not an atan's): refused otherwise, naming both."""
    new_kind = values.get("kind")
    old_kind = getattr(recipe, section).kind
    if new_kind is None or new_kind == old_kind:
        return
    changer = set_by[f"{section}.kind"]
    for field in values:
        setter = set_by[f"{section}.{field}"]
        if setter != changer and not SETTABLE[section].carries_over(field, old_kind, new_kind):
            raise CfsnnError(
                f"layers.{setter}.{section}.{field}",
                f"is meant for {section} kind {old_kind!r}, but layers.{changer} makes layer {layer} "
                f"{new_kind!r}: set the field in the entry that sets the kind",
            )
