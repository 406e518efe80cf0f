"""Forecasts from a trained series model: the test period drawn beside the baselines, and the next values of a CSV.

`predict_csv(run, csv)` repeats the run's preprocessing from its `series.json`
alone (columns, scaling fitted on the training part, window length,
strategy), so a forecast needs nothing but the run directory and the recent
rows. `plot_test_period` is what `rnn train` saves as `predictions.png` and
`rnn evaluate` as `forecast.png`.

May import: config_data, data, errors, forecast_baselines, plots, runs, series_csv.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from rnn_recipes import plots, series_csv
from rnn_recipes.config_data import SeriesData
from rnn_recipes.dataset import Dataset
from rnn_recipes.errors import DataError, RunError
from rnn_recipes.forecast_baselines import BASELINES, SeriesInfo, rollout
from rnn_recipes.runs import load_run

SERIES_JSON = "series.json"


def test_forecasts(model, ds: Dataset, batch_size: int) -> dict[str, np.ndarray]:
    """The model's and each baseline's forecasts of the test windows, and the truth, (N, horizon, K), original units."""
    predict = lambda x: model.predict(x, batch_size=batch_size, verbose=0)  # noqa: E731
    model_forecast = ds.series.to_original(rollout(predict, ds.x_test, ds.series))
    return {"actual": ds.series.truth, "model": model_forecast, **ds.series.baselines}


def plot_test_period(model, ds: Dataset, batch_size: int, path: Path, title: str = "") -> Path:
    """Forecast against actual over the test period, persistence, seasonal naive and the linear AR beside it."""
    lines = test_forecasts(model, ds, batch_size)
    labels = {"actual": "actual", "model": "model", "persistence": "persistence",
              "seasonal_naive": f"seasonal naive ({ds.series.season})", "linear_ar": "linear AR"}
    plots.forecasts({labels[k]: v for k, v in lines.items()}, ds.series.test_times, ds.series.targets, path, title)
    return path


def read_series_meta(run_dir: Path) -> dict:
    """The run's `series.json`: what prediction repeats of its preprocessing."""
    path = Path(run_dir) / SERIES_JSON
    if not path.is_file():
        raise RunError(f"{run_dir} is not a series run (no {SERIES_JSON}); forecasts come from runs of data.kind series or sine")
    return json.loads(path.read_text(encoding="utf-8"))


def check_same_source(run_dir: Path, ds: Dataset) -> None:
    """Refuse to score a run on a CSV that changed since it trained: its scaling and splits would differ."""
    saved = read_series_meta(run_dir).get("source", {}).get("sha256")
    now = ds.series.meta.get("source", {}).get("sha256")
    if saved and now and saved != now:
        raise DataError(f"{ds.series.meta['source']['path']} changed since {run_dir} trained on it "
                        f"(sha256 {now[:12]}..., was {saved[:12]}...); evaluate on the file it trained on")


def _info(meta: dict) -> SeriesInfo:
    targets = meta["targets"]
    direct = meta["strategy"] == "direct"
    empty = np.zeros((0, meta["horizon"], len(targets)))
    return SeriesInfo(
        targets=tuple(targets), horizon=meta["horizon"], strategy=meta["strategy"], season=meta["season"],
        mean=np.array([meta["mean"][t] for t in targets]), std=np.array([meta["std"][t] for t in targets]),
        truth=empty, baselines={name: empty for name in BASELINES}, mase_scale=np.ones(len(targets)),
        feedback=() if direct else tuple(meta["features"].index(t) for t in targets), meta=meta,
    )


def predict_csv(run: str | Path, csv_path: str | Path) -> list[dict]:
    """The next `horizon` values after the last `time_steps` rows of `csv_path`, in original units.

    Returns:
        One dict per step ahead: `step` (1 = the next row), `time` when the run
        has a time column, and one value per target column, by name.

    Raises:
        DataError: the CSV is unreadable, lacks a column the run reads, or has
            fewer rows than the window; RunError: `run` is not a finished series run.
    """
    return load_forecaster(run)(csv_path)


def load_forecaster(run: str | Path) -> Callable[[str | Path], list[dict]]:
    """A series run read once: a function from a CSV path to `predict_csv`'s rows (for a server's many requests)."""
    found = load_run(Path(run))
    meta = read_series_meta(found.path)
    fill = found.config.data.fill if isinstance(found.config.data, SeriesData) else "none"
    model = found.load_model()
    info = _info(meta)

    def forecast_csv(csv_path: str | Path) -> list[dict]:
        reader = SeriesData(path=str(csv_path), time_column=meta["time_column"], features=meta["features"],
                            targets=meta["targets"], fill=fill)
        table = series_csv.read_table(Path(csv_path), reader)
        steps = meta["time_steps"]
        if table.rows < steps:
            raise DataError(f"{csv_path} has {table.rows} rows; the run forecasts from the last {steps} "
                            f"(its data.time_steps), so give at least {steps}")
        x = np.stack([table.columns[f] for f in meta["features"]], axis=1)[-steps:]
        mean = np.array([meta["mean"][f] for f in meta["features"]])
        std = np.array([meta["std"][f] for f in meta["features"]])
        window = ((x - mean) / std)[None].astype("float32")
        forecast = info.to_original(rollout(lambda w: model.predict(w, verbose=0), window, info))[0]
        times = (series_csv.next_times(table.times[-1], table.time_step if table.rows > 1 else meta["time_step"],
                                       info.horizon)
                 if table.times is not None else None)
        rows = []
        for j, values in enumerate(forecast):
            row = {"step": j + 1, **({"time": times[j]} if times else {})}
            row.update({t: float(v) for t, v in zip(info.targets, values)})
            rows.append(row)
        return rows

    return forecast_csv
