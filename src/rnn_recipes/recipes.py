"""Recipes: one base config, the variants to compare, and the results each must reach.

A recipe (`recipes/*.yaml`) names a `base` config, overrides for every variant
(`set`), named override sets (`variants`) and a cartesian `matrix` of values,
and expected result bands per variant (`expect`). Every variant is validated
as a complete config before anything trains. Running the variants, their
results, the bands and the leaderboard live in `leaderboard.py`.

Example:
    >>> recipe = load_recipe("recipes/tiny/sine_cells.yaml")
    >>> [v.name for v in recipe.variants]
    ['simple_rnn', 'lstm', 'gru']
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rnn_recipes.bundled import list_bundled, resolve_named
from rnn_recipes.config import Config
from rnn_recipes.config_load import (
    KEY_PATH,
    build_config,
    parse_override,
    parse_value,
    read_config_data,
    set_path,
    validate,
)
from rnn_recipes.errors import ConfigError
from rnn_recipes.safeyaml import read_yaml_file

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # a directory name, and part of a Config name
METRIC = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
BAND_TEXT = re.compile(r"\s*(?P<metric>\S+)\s*(?P<op>>=|<=)\s*(?P<bound>\S+)\s*")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_band(text: str) -> dict:
    """'val_accuracy >= 0.8' -> {'metric': 'val_accuracy', 'min': 0.8}; the bound may name a metric."""
    match = BAND_TEXT.fullmatch(text)
    if not match:
        raise ValueError(f"cannot read band {text!r}; expected 'METRIC >= BOUND' or 'METRIC <= BOUND', e.g. 'val_accuracy >= 0.8'")
    bound: float | str = match["bound"]
    try:
        bound = float(bound)
    except ValueError:
        pass
    return {"metric": match["metric"], "min" if match["op"] == ">=" else "max": bound}


class Band(_Strict):
    """An expected result: `metric` within [min, max]; a bound is a number or another metric's name."""

    metric: str = Field(pattern=METRIC.pattern)
    min: float | str | None = None
    max: float | str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return parse_band(value) if isinstance(value, str) else value

    @field_validator("min", "max")
    @classmethod
    def _bound_is_metric(cls, value: Any) -> Any:
        if isinstance(value, str) and not METRIC.fullmatch(value):
            raise ValueError(f"a bound is a number or a metric name; received {value!r}")
        return value

    @model_validator(mode="after")
    def _bounded(self) -> Band:
        if self.min is None and self.max is None:
            raise ValueError("a band needs min, max or both, e.g. {metric: val_accuracy, min: 0.8}")
        return self

    def __str__(self) -> str:
        parts = [f"{self.metric} >= {self.min}" if self.min is not None else "",
                 f"{self.metric} <= {self.max}" if self.max is not None else ""]
        return " and ".join(p for p in parts if p)


class RecipeSpec(_Strict):
    """The recipe file, validated."""

    name: str = Field(pattern=NAME)
    base: str  # a config path relative to the recipe file, or a bundled config's name
    set: dict[str, Any] = {}  # overrides for every variant
    variants: dict[str, dict[str, Any]] = {}  # named override sets
    matrix: dict[str, list[Any]] = {}  # key -> values; every combination is a variant
    expect: dict[str, list[Band]] = {}  # variant name or glob -> bands
    metrics: list[str] = []  # leaderboard columns; the first ranks

    @field_validator("set", "matrix")
    @classmethod
    def _key_paths(cls, value: dict) -> dict:
        for key in value:
            if not KEY_PATH.fullmatch(key):
                raise ValueError(f"{key!r} is not a config key path such as model.cell")
        return value

    @field_validator("variants")
    @classmethod
    def _variant_names(cls, value: dict) -> dict:
        for name, overrides in value.items():
            if not re.fullmatch(NAME, name):
                raise ValueError(f"variant name {name!r} must be letters, digits, '_', '.' or '-'")
            cls._key_paths(overrides)
        return value

    @field_validator("matrix")
    @classmethod
    def _non_empty(cls, value: dict) -> dict:
        for key, values in value.items():
            if not values:
                raise ValueError(f"matrix key {key!r} has no values")
        return value


@dataclass(frozen=True)
class Variant:
    """One configuration of a recipe: its name, its validated config and its bands."""

    name: str
    config: Config
    bands: tuple[Band, ...]


@dataclass(frozen=True)
class Recipe:
    """A validated recipe with every variant resolved to a full config."""

    spec: RecipeSpec
    source: str
    variants: list[Variant]

    @property
    def name(self) -> str:
        return self.spec.name


# --- loading -----------------------------------------------------------------


def _value_part(key: str, value: Any) -> str:
    """The piece of a variant name a matrix value gives: `lstm`, `bidirectional_true`, `units_64`."""
    if isinstance(value, str):
        return value
    text = json.dumps(value) if isinstance(value, bool) or value is None else str(value)
    return f"{key.rsplit('.', 1)[-1]}_{text}"


def _combinations(spec: RecipeSpec) -> list[tuple[str, list[tuple[str, Any, tuple]]]]:
    """(variant name, [(key, value, recipe key path of the value)]) for every variant, in order."""
    named = [(n, list(o.items()), ("variants", n)) for n, o in spec.variants.items()] or [("", [], ())]
    axes = [[(key, value) for value in values] for key, values in spec.matrix.items()]
    shared = [(k, v, ("set", k)) for k, v in spec.set.items()]
    out = []
    for (vname, overrides, where), combo in itertools.product(named, itertools.product(*axes)):
        parts = ([vname] if vname else []) + [_value_part(k, v) for k, v in combo]
        settings = shared + [(k, v, where + (k,)) for k, v in overrides] + [(k, v, ("matrix", k)) for k, v in combo]
        out.append(("-".join(parts) or "base", settings))
    return out


def _bands_for(spec: RecipeSpec, names: list[str], lines: dict, source: str) -> dict[str, tuple[Band, ...]]:
    bands: dict[str, list[Band]] = {n: [] for n in names}
    for pattern, listed in spec.expect.items():
        matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            close = difflib.get_close_matches(pattern, names, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            line = lines.get(("expect", pattern))
            where = f"{source}:{line}" if line else source
            raise ConfigError(f"{where}: expect names no variant: {pattern!r}.{hint} Variants: {', '.join(names)}.")
        for name in matched:
            bands[name].extend(listed)
    return {n: tuple(b) for n, b in bands.items()}


def build_recipe(data: dict, lines: dict, source: str, beside: Path | None) -> Recipe:
    """Validate a raw recipe mapping and every variant's full config; raise a one-line ConfigError."""
    spec = validate(RecipeSpec, data, lines, source)
    base_path = resolve_named(spec.base, "configs", beside)
    base, base_lines = read_config_data(base_path)
    combos = _combinations(spec)
    names = [name for name, _ in combos]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{source}: two variants share the name {dupes[0]!r}; give the variants distinct names")
    bands = _bands_for(spec, names, lines, source)
    variants = []
    for name, settings in combos:
        raw = copy.deepcopy(base)
        raw["name"] = f"{spec.name}-{name}"
        where: dict[tuple, str] = {}
        for key, value, origin in settings:
            line = lines.get(origin)
            label = f"{source}:{line}" if line else source
            set_path(raw, key, copy.deepcopy(value), label=f"{label} (variant {name})")
            where[tuple(key.split("."))] = f"{label} (variant {name})"
        cfg = build_config(raw, base_lines, str(base_path), where)
        variants.append(Variant(name, cfg, bands[name]))
    return Recipe(spec, source, variants)


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file, or the bundled recipe of that name (`tiny/sine_cells`).

    The recipe's name defaults to the file's stem.
    """
    path = resolve_named(str(path), "recipes")
    data, lines = read_yaml_file(path, "recipe")
    return build_recipe(data, lines, str(path), path.parent)


def sweep_recipe(config: str | Path, axes: list[str], overrides: list[str], name: str | None = None) -> Recipe:
    """The recipe `rnn sweep CONFIG a.b=v1,v2 ...` describes: a matrix over one config.

    Args:
        config: the base config's path.
        axes: `KEY=V1,V2,...`; values are read as YAML scalars (`3`, `true`, `lstm`).
        overrides: `KEY=VALUE` settings for every variant, as `--set`.
        name: the recipe's name; default `sweep-<config stem>`.
    """
    matrix: dict[str, list] = {}
    for axis in axes:
        key, sep, values = axis.partition("=")
        if not sep or not KEY_PATH.fullmatch(key.strip()) or not values.strip():
            raise ConfigError(f"sweep axis {axis!r}: expected KEY=V1,V2,..., for example model.cell=simple_rnn,lstm,gru")
        matrix[key.strip()] = [parse_value(v.strip()) for v in values.split(",")]
    shared = dict(parse_override(item) for item in overrides)
    data = {"name": name or f"sweep-{Path(config).stem}", "base": str(Path(config).resolve()), "set": shared, "matrix": matrix}
    return build_recipe(data, {}, "rnn sweep", None)


def list_recipes() -> list[tuple[str, str]]:
    """(name, first comment line) of every bundled recipe."""
    return list_bundled("recipes")
