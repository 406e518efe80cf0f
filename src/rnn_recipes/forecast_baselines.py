"""Forecast errors and the baselines a forecast is judged against: persistence, seasonal naive, linear AR.

Every forecast here is an array (windows, horizon, targets) in the series'
original units. `report` turns a model's forecasts and the baselines' into
the numbers of `metrics.json`: MAE, RMSE and MASE overall and per horizon
step, and how much better than each baseline the model is. MASE divides a
forecast's MAE by the in-sample error of one-step persistence (the mean
absolute change between consecutive training values), so 1.0 is "as good as
repeating the last value, one step ahead, on the training part".

Pure NumPy: no TensorFlow, no files. A model enters as `predict(x) -> y`.

May import: nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

BASELINES = ("persistence", "seasonal_naive", "linear_ar")


@dataclass(frozen=True)
class SeriesInfo:
    """What scoring a series forecast needs beyond the model's input windows.

    Attributes:
        targets: the predicted columns' names.
        horizon: values forecast after each window.
        strategy: "direct" (the model answers all `horizon` steps at once) or
            "recursive" (a one-step model is fed its own predictions).
        season: the seasonal naive baseline's period, in rows.
        mean, std: per target, what the model's outputs are scaled by
            (model units -> original units: value * std + mean).
        truth: the test windows' actual next values (N, horizon, targets), original units.
        baselines: each baseline's forecast of `truth`, same shape.
        mase_scale: per target, the mean absolute one-step change over the training part.
        feedback: for a recursive model, the input column each target is fed back into.
        test_times: the time (or row number) of each test window's first forecast value.
        meta: what the run saves as `series.json` so prediction can repeat the preprocessing.
    """

    targets: tuple[str, ...]
    horizon: int
    strategy: str
    season: int
    mean: np.ndarray
    std: np.ndarray
    truth: np.ndarray
    baselines: dict[str, np.ndarray]
    mase_scale: np.ndarray
    feedback: tuple[int, ...] = ()
    test_times: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def to_original(self, y: np.ndarray) -> np.ndarray:
        """Model outputs (N, horizon, targets) in the units the model was trained on -> original units."""
        return np.asarray(y, "float64") * self.std + self.mean


# --- baselines -----------------------------------------------------------------


def persistence(target: np.ndarray, starts: np.ndarray, horizon: int) -> np.ndarray:
    """Every step repeats the last value seen: target (rows, K), starts = row of each window's first forecast value."""
    last = target[np.asarray(starts) - 1]
    return np.repeat(last[:, None, :], horizon, axis=1)


def seasonal_naive(target: np.ndarray, starts: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Step j repeats the value one season before it: y[t + j] = y[t + j - period * (j // period + 1)]."""
    steps = np.arange(horizon)
    rows = np.asarray(starts)[:, None] + steps - period * (steps // period + 1)
    return target[np.maximum(rows, 0)]  # a window closer to the start than one season repeats the first row


def fit_linear_ar(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares weights of y (N, outputs) on the flattened windows x (N, T, F) and an intercept.

    Example:
        >>> x = np.arange(8.0).reshape(4, 2, 1); y = x[:, -1, :] + 1   # the next value of a ramp
        >>> np.round(predict_linear_ar(fit_linear_ar(x, y), np.array([[[10.0], [11.0]]])), 6).tolist()
        [[12.0]]
    """
    design = np.hstack([x.reshape(len(x), -1), np.ones((len(x), 1))])
    weights, *_ = np.linalg.lstsq(design.astype("float64"), y.reshape(len(y), -1).astype("float64"), rcond=None)
    return weights


def predict_linear_ar(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The fitted linear autoregression's outputs for windows x (N, T, F): (N, outputs)."""
    return np.hstack([x.reshape(len(x), -1), np.ones((len(x), 1))]) @ weights


# --- forecasting with a model ----------------------------------------------------


def rollout(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, info: SeriesInfo) -> np.ndarray:
    """The model's forecasts (N, horizon, targets) for windows x, in the units the model was trained on.

    direct: one call answers every step. recursive: the model predicts one step,
    the prediction is appended to the window (its oldest row dropped) and the
    model is asked again, `horizon` times.
    """
    k = len(info.targets)
    if info.strategy == "direct":
        return np.asarray(predict(x), "float64").reshape(len(x), info.horizon, k)
    window = np.array(x, dtype="float32")
    steps = []
    for _ in range(info.horizon):
        step = np.asarray(predict(window), "float32").reshape(len(x), k)
        steps.append(step)
        nxt = window[:, -1:, :].copy()
        nxt[:, 0, list(info.feedback)] = step
        window = np.concatenate([window[:, 1:], nxt], axis=1)
    return np.stack(steps, axis=1).astype("float64")


# --- errors ------------------------------------------------------------------------


def errors(pred: np.ndarray, truth: np.ndarray, mase_scale: np.ndarray) -> dict:
    """MAE, RMSE, MSE and MASE of forecasts (N, horizon, K), overall and per horizon step.

    MASE averages each target's MAE over its own scale, so targets in different units weigh the same.

    Example:
        >>> truth = np.array([[[1.0], [2.0]]]); pred = np.array([[[1.5], [1.0]]])
        >>> e = errors(pred, truth, np.array([0.5]))
        >>> e["mae"], e["mase"], e["per_step"]["mae"]
        (0.75, 1.5, [0.5, 1.0])
    """
    diff = np.asarray(pred, "float64") - np.asarray(truth, "float64")
    abs_step = np.abs(diff).mean(axis=0)  # (horizon, K)
    sq_step = (diff**2).mean(axis=0)
    return {
        "mae": float(np.abs(diff).mean()),
        "rmse": float(np.sqrt((diff**2).mean())),
        "mse": float((diff**2).mean()),
        "mase": float((np.abs(diff).mean(axis=(0, 1)) / mase_scale).mean()),
        "per_step": {
            "mae": [float(v) for v in abs_step.mean(axis=1)],
            "rmse": [float(v) for v in np.sqrt(sq_step.mean(axis=1))],
            "mase": [float(v) for v in (abs_step / mase_scale).mean(axis=1)],
        },
    }


def improvement_pct(model_mase: float, baseline_mase: float) -> float:
    """How much lower the model's MASE is than a baseline's, in percent of the baseline's (negative: worse)."""
    return float(100.0 * (1.0 - model_mase / baseline_mase)) if baseline_mase > 0 else 0.0


def report(model_forecast: np.ndarray, info: SeriesInfo) -> dict:
    """The numbers `metrics.json` holds for a series run: the model's errors, each baseline's, and the gaps.

    `model_forecast` is in original units. Top-level `mase` and `rmse` are the
    model's; `<baseline>_baseline` holds a baseline's errors; `per_step`
    holds per-step lists for the model and each baseline;
    `improvement_over_<baseline>_pct` says by how much the model's MASE beats it.
    """
    mine = errors(model_forecast, info.truth, info.mase_scale)
    out = {"mase": mine["mase"], "rmse": mine["rmse"], "mae_original_units": mine["mae"], "horizon": info.horizon}
    per_step = {"model": mine["per_step"]}
    for name in BASELINES:
        theirs = errors(info.baselines[name], info.truth, info.mase_scale)
        per_step[name] = theirs.pop("per_step")
        if name == "seasonal_naive":
            theirs["period"] = info.season
        out[f"{name}_baseline"] = theirs
        out[f"improvement_over_{name}_pct"] = improvement_pct(mine["mase"], theirs["mase"])
    out["per_step"] = per_step
    out["verdict"] = verdict(out)
    return out


def verdict(metrics: dict) -> str:
    """One line: how the model compares with persistence, and the other baselines' MASE beside it."""
    gap, base = metrics["improvement_over_persistence_pct"], metrics["persistence_baseline"]["mase"]
    versus = f"beats persistence ({base:.3f}) by {gap:.1f}%" if gap > 0 else f"is {-gap:.1f}% worse than persistence ({base:.3f})"
    return (
        f"test MASE {metrics['mase']:.3f}: {versus}; seasonal naive (period {metrics['seasonal_naive_baseline']['period']}) "
        f"{metrics['seasonal_naive_baseline']['mase']:.3f}, linear AR {metrics['linear_ar_baseline']['mase']:.3f}"
    )
