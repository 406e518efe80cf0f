"""Test metrics of a trained model, with the baselines that give them meaning."""

from __future__ import annotations

import math

import numpy as np

from rnn_recipes.data import Dataset


def evaluate_model(model, ds: Dataset, batch_size: int) -> dict:
    """Test metrics, plus the numbers that give them meaning for the task."""
    results = model.evaluate(ds.x_test, ds.y_test, batch_size=batch_size, verbose=0, return_dict=True)
    metrics = {"split": ds.test_name, "examples": int(len(ds.x_test))}
    metrics.update({k: float(v) for k, v in results.items()})
    if ds.spec.task == "next_token":
        splits = {ds.test_name: metrics["loss"]}
        if ds.has_val:
            splits["val"] = model.evaluate(ds.x_val, ds.y_val, batch_size=batch_size, verbose=0, return_dict=True)["loss"]
        unit = "char" if ds.level == "char" else "word"
        for name, nats in splits.items():
            metrics[f"{name}_loss_nats"] = nats
            metrics[f"{name}_bits_per_{unit}"] = nats / math.log(2)
            metrics[f"{name}_perplexity"] = math.exp(min(nats, 700.0))
    if ds.spec.task == "regression":
        pred = model.predict(ds.x_test, batch_size=batch_size, verbose=0)
        metrics["rmse"] = float(np.sqrt(np.mean((pred - ds.y_test) ** 2)))
        metrics["persistence_baseline"] = ds.extra["persistence"]
    if ds.spec.task == "binary":
        metrics["majority_baseline_accuracy"] = float(max(ds.y_test.mean(), 1 - ds.y_test.mean()))
    return metrics
