"""Test metrics of a trained model, with the baselines that give them meaning."""

from __future__ import annotations

from rnn_recipes import tasks
from rnn_recipes.dataset import Dataset


def evaluate_model(model, ds: Dataset, batch_size: int) -> dict:
    """Test metrics, plus the numbers that give them meaning for the task."""
    results = model.evaluate(ds.x_test, ds.y_test, batch_size=batch_size, verbose=0, return_dict=True)
    metrics = {"split": ds.test_name, "examples": int(len(ds.x_test))}
    metrics.update({k: float(v) for k, v in results.items()})
    metrics.update(tasks.of(ds.spec).baselines(model, ds, batch_size, metrics))
    return metrics
