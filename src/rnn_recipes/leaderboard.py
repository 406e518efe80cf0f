"""Running a recipe and judging it: every variant trained, its results read back, bands and a leaderboard.

`run_recipe` trains each variant of a `Recipe` (see `recipes.py`) into
`<out>/<recipe>/<variant>/` (skipping finished ones), then writes a
leaderboard and a plot of the learning curves; `check_recipe` compares the
results with the bands. TensorFlow is imported only when something trains.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rnn_recipes import tasks
from rnn_recipes.config import Config
from rnn_recipes.config_load import flatten
from rnn_recipes.data import task_name
from rnn_recipes.errors import RunError
from rnn_recipes.fileio import read_text_bounded, write_text
from rnn_recipes.recipes import Band, Recipe, Variant
from rnn_recipes.runproof import MANIFEST
from rnn_recipes.runs import MAX_SMALL_FILE, read_config


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

    The last one, or with early stopping (train.patience) or a time budget
    (train.time_budget) the one with the lowest validation loss: Keras
    restores those weights when training ends.
    """
    last = len(history.get("loss", [])) - 1
    if "val_loss" not in history or not (run_dir / "config.yaml").is_file():
        return last
    train = read_config(run_dir).train
    if train.patience is None and train.time_budget is None:
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
        "early stopping or a time budget); the others are the test split's. "
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

