"""Test metrics of a trained model, with the baselines that give them meaning."""

from __future__ import annotations

from rnn_recipes import tasks
from rnn_recipes.dataset import Dataset, rows


INFERENCE_BATCH = 512  # no gradients to hold: large batches amortise each step's fixed cost
OUTPUT_FLOATS = 8_000_000  # ...but a batch's outputs (e.g. a word LM's softmax at every step) stay under 32 MB


def inference_batch(batch_size: int, outputs_per_example: int = 1) -> int:
    """The batch size metrics are computed at: the training batch, raised to `INFERENCE_BATCH` where the outputs fit.

    Example:
        >>> inference_batch(32), inference_batch(32, outputs_per_example=40 * 10_000), inference_batch(1024)
        (512, 32, 1024)
    """
    return max(batch_size, min(INFERENCE_BATCH, OUTPUT_FLOATS // max(1, outputs_per_example)))


def evaluate_model(model, ds: Dataset, batch_size: int) -> dict:
    """Test metrics, plus the numbers that give them meaning for the task.

    `batch_size` is the training batch; inference runs at `inference_batch` of it.
    """
    spec = ds.spec
    outputs = max(1, spec.num_classes) * ((spec.target_len or spec.seq_len) if spec.sequence_output else 1)
    batch_size = inference_batch(batch_size, outputs)
    results = model.evaluate(ds.x_test, ds.y_test, batch_size=batch_size, verbose=0, return_dict=True)
    metrics = {"split": ds.test_name, "examples": int(rows(ds.x_test))}
    metrics.update({k: float(v) for k, v in results.items()})
    metrics.update(tasks.of(ds.spec).baselines(model, ds, batch_size, metrics))
    return metrics
