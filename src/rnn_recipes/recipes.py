"""Recipes: one base config, the variants to compare, and the results each must reach.

A recipe (`recipes/*.yaml`) names a `base` config, overrides for every variant
(`set`), named override sets (`variants`) and a cartesian `matrix` of values,
and expected result bands per variant (`expect`). Every variant is validated
as a complete config before anything trains; `run_recipe` trains each into
`<out>/<recipe>/<variant>/` (skipping finished ones), then writes a
leaderboard and a plot of the learning curves; `check_recipe` compares the
results with the bands.

Example:
    >>> recipe = load_recipe("recipes/tiny/sine_cells.yaml")
    >>> [v.name for v in recipe.variants]
    ['simple_rnn', 'lstm', 'gru']
"""

from __future__ import annotations

import copy
import csv
import difflib
import fnmatch
import io
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rnn_recipes import tasks
from rnn_recipes.bundled import list_bundled, resolve_named
from rnn_recipes.config import Config
from rnn_recipes.config_load import (
    KEY_PATH,
    build_config,
    flatten,
    parse_override,
    parse_value,
    read_config_data,
    set_path,
    validate,
)
from rnn_recipes.data import task_name
from rnn_recipes.errors import ConfigError, RunError
from rnn_recipes.fileio import read_text_bounded, write_text
from rnn_recipes.runproof import MANIFEST
from rnn_recipes.runs import MAX_SMALL_FILE, read_config
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


# --- running -----------------------------------------------------------------


def variant_dir(out: Path, recipe: Recipe, variant: Variant) -> Path:
    return Path(out) / recipe.name / variant.name


def _ready(run_dir: Path, cfg: Config) -> bool | None:
    """True for a finished run of this very config; None for an interrupted one (resume it); refuse a stale one.

    Nothing is ever deleted: an interrupted variant is resumed, and one that
    another process is training (its lock is held) is refused by the lock.
    """
    if (run_dir / MANIFEST).is_file():
        if read_config(run_dir).to_dict() != cfg.to_dict():
            raise RunError(
                f"{run_dir} holds a run of a different config (the recipe changed); remove it or use another --out"
            )
        return True
    if (run_dir / "config.yaml").is_file():  # started by an earlier run, never finished: continue it
        return None
    return False


def run_recipe(recipe: Recipe, out: Path, log: Callable[[str], None] = print) -> Path:
    """Train every variant not yet finished, then write the leaderboard and curves; return the recipe's directory."""
    from rnn_recipes.train import train  # TensorFlow only when something trains

    for variant in recipe.variants:
        run_dir = variant_dir(out, recipe, variant)
        ready = _ready(run_dir, variant.config)
        if ready:
            log(f"{variant.name}: finished earlier, skipped ({run_dir})")
            continue
        if ready is None:
            log(f"{variant.name}: interrupted earlier, resuming {run_dir}")
            train(variant.config, resume=run_dir)  # locked: refused while another process trains it
            continue
        log(f"{variant.name}: training into {run_dir}")
        train(variant.config, run_dir)
    root = Path(out) / recipe.name
    write_leaderboard(recipe, out)
    return root


# --- results -----------------------------------------------------------------


def read_history(run_dir: Path) -> dict[str, list[float]]:
    """history.csv as column -> values per epoch (a regular file of the run, size-capped, numbers only)."""
    text = read_text_bounded(run_dir / "history.csv", MAX_SMALL_FILE, what="history.csv", follow=False)
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {}) if k != "epoch"}
    except (ValueError, TypeError, csv.Error):
        raise RunError(f"{run_dir / 'history.csv'}: expected a column of numbers per metric; the run cannot be trusted") from None


def reported_epoch(run_dir: Path, history: dict[str, list[float]]) -> int:
    """The index of the epoch whose weights the run kept.

    The last one, or with early stopping (train.patience) the one with the
    lowest validation loss: Keras restores those weights when training ends.
    """
    last = len(history.get("loss", [])) - 1
    if "val_loss" not in history or not (run_dir / "config.yaml").is_file():
        return last
    if read_config(run_dir).train.patience is None:
        return last
    return min(range(len(history["val_loss"])), key=history["val_loss"].__getitem__)  # first best, as Keras


def run_results(run_dir: Path) -> dict[str, float]:
    """The numbers a band or leaderboard can name.

    metrics.json as it is (test metrics such as `accuracy`, `rmse`, nested keys
    dotted: `persistence_baseline.mse`), and history.csv at the epoch whose
    weights the run kept (`reported_epoch`): validation columns as they are
    (`val_accuracy`), training ones prefixed (`train_loss`).
    """
    path = run_dir / "metrics.json"
    try:
        metrics = json.loads(read_text_bounded(path, MAX_SMALL_FILE, what="metrics.json", follow=False))
    except (ValueError, RecursionError):
        metrics = None
    if not isinstance(metrics, dict):
        raise RunError(f"{path}: expected a JSON object of metrics; the run cannot be trusted")
    metrics = flatten(metrics)
    results = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    history = read_history(run_dir)
    epoch = reported_epoch(run_dir, history)
    for key, values in history.items():
        if values and key != "seconds":
            results.setdefault(key if key.startswith("val_") else f"train_{key}", values[epoch])
    return results


def _finished_results(recipe: Recipe, out: Path) -> dict[str, dict[str, float]]:
    results = {}
    for variant in recipe.variants:
        run_dir = variant_dir(out, recipe, variant)
        if not (run_dir / MANIFEST).is_file():
            raise RunError(f"variant {variant.name!r} has no finished run in {run_dir}; run `rnn recipe run` first")
        results[variant.name] = run_results(run_dir)
    return results


@dataclass(frozen=True)
class BandResult:
    """One band checked against one variant's run; `low`/`high` are the bounds' values."""

    variant: str
    band: Band
    value: float
    low: float | None
    high: float | None
    passed: bool

    def line(self) -> str:
        expected = [f"{op} {bound}{'' if isinstance(bound, float) else f' = {value:.4g}'}"
                    for op, bound, value in ((">=", self.band.min, self.low), ("<=", self.band.max, self.high))
                    if bound is not None]
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict}  {self.variant}: {self.band.metric} = {self.value:.4g}, expected {' and '.join(expected)}"


def _lookup(results: dict[str, float], metric: str, variant: str) -> float:
    if metric not in results:
        close = difflib.get_close_matches(metric, list(results), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise RunError(f"variant {variant!r} has no metric {metric!r}.{hint} Available: {', '.join(sorted(results))}.")
    return results[metric]


def check_band(band: Band, results: dict[str, float], variant: str) -> BandResult:
    """Compare one variant's results with one band (bounds inclusive)."""
    value = _lookup(results, band.metric, variant)
    low = _lookup(results, band.min, variant) if isinstance(band.min, str) else band.min
    high = _lookup(results, band.max, variant) if isinstance(band.max, str) else band.max
    passed = (low is None or value >= low) and (high is None or value <= high)
    return BandResult(variant, band, value, low, high, passed)


def check_recipe(recipe: Recipe, out: Path) -> list[BandResult]:
    """Every band of every variant against its finished run."""
    results = _finished_results(recipe, out)
    return [check_band(b, results[v.name], v.name) for v in recipe.variants for b in v.bands]


def recipe_task(recipe: Recipe) -> tasks.Task:
    """The task the recipe's data poses: it names the default leaderboard columns and which way each ranks."""
    return tasks.get(task_name(recipe.variants[0].config))


def leaderboard_rows(recipe: Recipe, out: Path) -> tuple[list[str], list[dict]]:
    """(metric columns, one row per variant, best first by the first metric)."""
    results = _finished_results(recipe, out)
    task = recipe_task(recipe)
    metrics = recipe.spec.metrics or list(task.leaderboard)
    metrics = metrics + [b.metric for v in recipe.variants for b in v.bands if b.metric not in metrics]
    rows = []
    for variant in recipe.variants:
        res = results[variant.name]
        checks = [check_band(b, res, variant.name) for b in variant.bands]
        row = {"variant": variant.name, **{m: res.get(m) for m in metrics}}
        row["parameters"] = int(res["parameters"]) if "parameters" in res else None
        row["seconds_per_epoch"] = res.get("seconds_per_epoch")
        row["epochs"] = int(res["epochs_run"]) if "epochs_run" in res else None
        row["bands"] = f"{sum(c.passed for c in checks)}/{len(checks)}" if checks else ""
        rows.append(row)
    key, sign = metrics[0], (-1 if task.is_higher_better(metrics[0]) else 1)
    rows.sort(key=lambda r: (r[key] is None, sign * r[key] if r[key] is not None else 0.0))
    return metrics, rows


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def leaderboard_markdown(recipe: Recipe, metrics: list[str], rows: list[dict]) -> str:
    columns = list(rows[0])
    direction = "higher" if recipe_task(recipe).is_higher_better(metrics[0]) else "lower"
    lines = [
        f"# {recipe.name}",
        "",
        f"Ranked by `{metrics[0]}` ({direction} is better). "
        "Validation and training metrics are those of the epoch the run kept (the last, or the best with "
        "early stopping); the others are the test split's. "
        "Seconds per epoch is the median over epochs.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" if c == "variant" else "---:" for c in columns) + "|",
    ]
    lines += ["| " + " | ".join(_cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_leaderboard(recipe: Recipe, out: Path) -> str:
    """Write leaderboard.md, leaderboard.csv and curves.png beside the variants; return the markdown."""
    from rnn_recipes import plots

    root = Path(out) / recipe.name
    metrics, rows = leaderboard_rows(recipe, out)
    markdown = leaderboard_markdown(recipe, metrics, rows)
    write_text(root / "leaderboard.md", markdown)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    write_text(root / "leaderboard.csv", buf.getvalue())
    histories = {v.name: read_history(variant_dir(out, recipe, v)) for v in recipe.variants}
    plots.compare_curves(histories, root / "curves.png", title=recipe.name)
    return markdown

