"""Re-evaluate a finished run from its directory alone."""

from __future__ import annotations

from pathlib import Path

from rnn_recipes import forecast, tasks
from rnn_recipes.data import load_dataset
from rnn_recipes.metrics import evaluate_model
from rnn_recipes.runs import load_run


def evaluate_run(run_dir: Path) -> tuple[dict, dict]:
    """Load the run's model and data, recompute its test metrics (series: and plot the test period as forecast.png).

    Returns:
        (recomputed metrics, metrics saved at the end of training).
    """
    run = load_run(run_dir)
    model = run.load_model()
    ds = load_dataset(run.config)
    if ds.series is not None:
        forecast.check_same_source(run.path, ds)
    metrics = evaluate_model(model, ds, run.config.train.batch_size)
    metrics["epochs_run"] = run.metrics.get("epochs_run")
    if tasks.of(ds.spec).prediction_plot:  # beside the run's files; not part of its manifest
        metrics["plot"] = str(forecast.plot_test_period(model, ds, run.config.train.batch_size, run.path / "forecast.png"))
    return metrics, run.metrics
