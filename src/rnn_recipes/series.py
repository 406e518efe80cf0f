"""Series a forecasting run learns from: a checked CSV table or the seed's sine; their windows, parts and scaling.

Both sources end in `prepare`, which cuts one design of windows for either:
`time_steps` input rows predict the next `horizon` target values; a window
belongs to the train, validation or test part when every value it forecasts
lies in that part (parts follow each other in time and are never shuffled
across), so no forecast value is ever trained on. Scaling statistics come
from the training part only and are saved with the run (`series.json`).
Reading and checking the CSV is `series_csv`'s.

May import: config_data, errors, fileio, forecast_baselines, series_csv.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn_recipes.config_data import SeriesData, SineData
from rnn_recipes.errors import DataError
from rnn_recipes.fileio import sha256_file
from rnn_recipes.forecast_baselines import (
    SeriesInfo,
    errors,
    fit_linear_ar,
    persistence,
    predict_linear_ar,
    seasonal_naive,
)
from rnn_recipes.series_csv import read_table


# --- windows ---------------------------------------------------------------------


def windows(inputs: np.ndarray, target: np.ndarray, time_steps: int, horizon: int, stride: int = 1):
    """Windows of `time_steps` input rows (N, T, F), the next `horizon` target rows (N, horizon, K),
    and the row of each window's first forecast value (N,).

    Example:
        >>> v = np.arange(6.0)[:, None]
        >>> x, y, starts = windows(v, v, 3, 2)
        >>> x[:, :, 0].tolist(), y[:, :, 0].tolist(), starts.tolist()
        ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [[3.0, 4.0], [4.0, 5.0]], [3, 4])
    """
    n = len(inputs) - time_steps - horizon + 1
    if n <= 0:
        f, k = inputs.shape[1], target.shape[1]
        return np.zeros((0, time_steps, f)), np.zeros((0, horizon, k)), np.zeros(0, "int64")
    view = np.lib.stride_tricks.sliding_window_view
    x = view(inputs[: len(inputs) - horizon], time_steps, axis=0)[::stride].transpose(0, 2, 1)
    y = view(target[time_steps:], horizon, axis=0)[::stride].transpose(0, 2, 1)
    return x, y, np.arange(n)[::stride] + time_steps


def sine_windows(values: np.ndarray, time_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of `time_steps` values (N, T, 1) and the value after each (N, 1): the seed's windows."""
    col = np.asarray(values)[:, None]
    x, y, _ = windows(col, col, time_steps, 1)
    return x.astype("float32"), y[:, :, 0].astype("float32")


@dataclass
class Windows:
    """A series' model-ready arrays (in the units the model trains on) and what scoring them needs."""

    arrays: tuple[np.ndarray, ...]  # x_train, y_train, x_val, y_val, x_test, y_test, as `Dataset` takes them
    features: int  # input columns per step
    targets: int  # predicted columns
    model_horizon: int  # steps the model answers per call: horizon (direct) or 1 (recursive)
    info: SeriesInfo

    @property
    def persistence(self) -> dict:
        """MSE and MAE of repeating the last value seen, on the test windows."""
        e = errors(self.info.baselines["persistence"], self.info.truth, self.info.mase_scale)
        return {"mse": e["mse"], "mae": e["mae"]}


def _in_part(starts: np.ndarray, horizon: int, first: int, end: int) -> np.ndarray:
    return (starts >= first) & (starts + horizon <= end)


def prepare(
    inputs: np.ndarray,
    target: np.ndarray,
    d: SeriesData | SineData,
    *,
    val_start: int,
    test_start: int,
    names: tuple[list[str], list[str]],
    normalize: bool,
    test_source: tuple[np.ndarray, np.ndarray] | None = None,
    test_windows: int | None = None,
    times: list[str] | None = None,
    meta: dict | None = None,
) -> Windows:
    """Scale, window and split a series into the parts a run trains, validates and tests on.

    Args:
        inputs, target: (rows, F) and (rows, K), original units, time order.
        d: the data config: time_steps, horizon, stride, strategy, season.
        val_start, test_start: the first row of the validation and of the test part.
        names: (feature names, target names).
        normalize: scale each column by the training part's mean and std.
        test_source: test on windows of another series (the seed's sine) instead of the test part.
        test_windows: keep only the last this many test windows.
        times: each row's time, to label the test forecasts.
        meta: extra facts for `series.json`.
    """
    features, targets = names
    h, direct = d.horizon, d.strategy == "direct"
    h_model = h if direct else 1
    train_in, train_t = inputs[:val_start], target[:val_start]
    if normalize:
        in_mean, in_std = train_in.mean(axis=0), _std(train_in)
        t_mean, t_std = train_t.mean(axis=0), _std(train_t)
    else:
        in_mean, in_std = np.zeros(inputs.shape[1]), np.ones(inputs.shape[1])
        t_mean, t_std = np.zeros(target.shape[1]), np.ones(target.shape[1])

    zin, zt = (inputs - in_mean) / in_std, (target - t_mean) / t_std
    x, y, starts = windows(zin, zt, d.time_steps, h_model, d.stride)
    train = _in_part(starts, h_model, 0, val_start)
    val = _in_part(starts, h_model, val_start, test_start)

    t_inputs, t_target = test_source if test_source is not None else (inputs, target)
    first_test = 0 if test_source is not None else test_start
    tx, ty, tstarts = windows((t_inputs - in_mean) / in_std, (t_target - t_mean) / t_std, d.time_steps, h, d.stride)
    test = _in_part(tstarts, h, first_test, len(t_inputs))
    if test_windows is not None:
        test &= np.cumsum(test[::-1])[::-1] <= test_windows
    tx, ty, tstarts = tx[test], ty[test], tstarts[test]

    # baselines see the same windows in original units; the linear AR fits the training windows
    ax, ay, astarts = windows(zin, zt, d.time_steps, h, d.stride)
    fit = _in_part(astarts, h, 0, val_start)
    weights = fit_linear_ar(ax[fit], ay[fit]) if fit.any() else None
    ar = (predict_linear_ar(weights, tx).reshape(len(tx), h, -1) if weights is not None
          else np.full(ty.shape, np.nan)) * t_std + t_mean
    scale = np.abs(np.diff(train_t, axis=0)).mean(axis=0) if len(train_t) > 1 else np.zeros(target.shape[1])
    for name, s in zip(targets, scale):
        if not s > 0:
            raise DataError(f"target {name!r} never changes over the training part: there is nothing to forecast")
    info = SeriesInfo(
        targets=tuple(targets),
        horizon=h,
        strategy=d.strategy,
        season=d.season,
        mean=t_mean,
        std=t_std,
        truth=ty * t_std + t_mean,
        baselines={
            "persistence": persistence(t_target, tstarts, h),
            "seasonal_naive": seasonal_naive(t_target, tstarts, h, d.season),
            "linear_ar": ar,
        },
        mase_scale=scale,
        feedback=tuple(features.index(t) for t in targets) if not direct else (),
        test_times=[times[s] for s in tstarts] if times is not None else [int(s) for s in tstarts],
        meta={
            "features": list(features),
            "targets": list(targets),
            "time_steps": d.time_steps,
            "horizon": h,
            "stride": d.stride,
            "strategy": d.strategy,
            "season": d.season,
            "normalize": "standard" if normalize else "none",
            "mean": dict(zip(features, map(float, in_mean))) | dict(zip(targets, map(float, t_mean))),
            "std": dict(zip(features, map(float, in_std))) | dict(zip(targets, map(float, t_std))),
            "mase_scale": dict(zip(targets, map(float, scale))),
            **(meta or {}),
        },
    )
    k = target.shape[1]
    shape_y = (lambda a: a.reshape(len(a), h * k)) if direct else (lambda a: a[:, 0, :])
    arrays = (x[train], shape_y(y[train]), x[val], shape_y(y[val]), tx, shape_y(ty))
    return Windows(tuple(a.astype("float32") for a in arrays), inputs.shape[1], k, h_model, info)


def _std(a: np.ndarray) -> np.ndarray:
    std = a.std(axis=0)
    return np.where(std > 0, std, 1.0)  # a constant input column is centred, not divided by zero


# --- the two sources -------------------------------------------------------------------


def csv_windows(path: Path, d: SeriesData) -> Windows:
    """The CSV at `path` read, checked, split by time and windowed as `d` says."""
    table = read_table(path, d)
    features, targets, n = table.features, table.targets, table.rows
    n_test, n_val = int(round(n * d.test_split)), int(round(n * d.val_split))
    val_start, test_start = n - n_test - n_val, n - n_test
    where = f"{table.path} has {n} rows"
    if n < 2:
        raise DataError(f"{table.path} has only one row; a series needs at least data.time_steps + data.horizon "
                        f"({d.time_steps} + {d.horizon}) rows, and more to validate and test on")
    if val_start < d.time_steps + (d.horizon if d.strategy == "direct" else 1):
        raise DataError(f"{where}: its training part ({val_start} rows) holds no window of data.time_steps "
                        f"({d.time_steps}) + horizon rows; use a longer series, smaller splits or fewer time_steps")
    if n_test < d.horizon:
        raise DataError(f"{where}: data.horizon ({d.horizon}) is longer than the test part "
                        f"({n_test} rows, data.test_split {d.test_split}); raise test_split or shorten the horizon")
    inputs = np.stack([table.columns[f] for f in features], axis=1)
    target = np.stack([table.columns[t] for t in targets], axis=1)
    meta = {"time_column": d.time_column, "time_step": table.time_step,
            "source": {"path": table.path, "sha256": sha256_file(path), "rows": n}}
    return prepare(inputs, target, d, val_start=val_start, test_start=test_start, names=(features, targets),
                   normalize=d.normalize == "standard", times=table.times, meta=meta)


def sine_source(d: SineData, seed: int) -> Windows:
    """The seed's series: train on sin(f * arange(total_size)), test on the last
    `test_windows` windows of sin(f * arange(test_size)); values as they are (no scaling)."""
    rng = np.random.default_rng(seed)
    train = np.sin(d.frequency * np.arange(d.total_size))
    train = train + rng.normal(0.0, d.noise, train.shape) if d.noise else train
    test = np.sin(d.frequency * np.arange(d.test_size))[:, None]
    h_model = d.horizon if d.strategy == "direct" else 1
    # the validation part is the last val_split of the training windows, as a row where they start
    n_windows = len(range(0, d.total_size - d.time_steps - h_model + 1, d.stride))
    n_val = int(round(n_windows * d.val_split))
    val_start = d.time_steps + (n_windows - n_val) * d.stride if n_val else d.total_size
    col = train[:, None]
    return prepare(col, col, d, val_start=val_start, test_start=d.total_size, names=(["sine"], ["sine"]),
                   normalize=False, test_source=(test, test), test_windows=d.test_windows,
                   meta={"time_column": None, "time_step": None, "source": {"kind": "sine"}})


def load(d: SineData | SeriesData, seed: int, path: Path | None) -> Windows:
    """The windows of the series `d` names: the sine it describes, or the CSV fetched to `path`."""
    return sine_source(d, seed) if isinstance(d, SineData) else csv_windows(path, d)


def widths(d: SineData | SeriesData, path: Path | None) -> tuple[int, int]:
    """(input columns, predicted columns) per step, reading only what naming them needs."""
    if isinstance(d, SineData):
        return 1, 1
    table = read_table(path, d)
    return len(table.features), len(table.targets)

