"""`output.tensorboard: true`: event files under the run, read back with TensorBoard's own reader."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY


def _tags(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"tensors": 0})
    acc.Reload()
    return acc


@pytest.mark.slow
def test_a_run_writes_losses_learning_rate_histograms_gradient_norms_and_the_graph(tmp_path):
    from tensorboard.util import tensor_util

    from rnn_recipes.config_load import load_config
    from rnn_recipes.runproof import replace_refusal
    from rnn_recipes.train import train

    cfg = load_config(TINY / "sine_simple_rnn.yaml", ["train.epochs=2", "output.tensorboard=true", "output.plots=false",
                                                      "train.lr_schedule=cosine"])
    run = train(cfg, tmp_path / "r", verbose=0)
    board = run / "tensorboard"
    train_log, val_log, grads = _tags(board / "train"), _tags(board / "validation"), _tags(board / "gradients")

    def series(acc, tag):
        return [float(tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]

    tags = set(train_log.Tags()["tensors"])
    assert {"epoch_loss", "epoch_mae", "epoch_learning_rate", "keras"} <= tags
    losses = series(train_log, "epoch_loss")
    history = np.loadtxt(run / "history.csv", delimiter=",", skiprows=1, usecols=1)
    assert losses == pytest.approx(history.tolist(), rel=1e-5)
    rates = series(train_log, "epoch_learning_rate")
    assert len(rates) == 2 and rates[1] < rates[0]  # the cosine schedule, as the optimizer saw it
    assert len(series(val_log, "epoch_loss")) == 2
    weights = [t for t in tags if t.endswith("histogram")]
    assert any("simple_rnn" in t and "kernel" in t for t in weights), sorted(tags)
    hist = grads.Tensors("gradient_norms")
    assert len(hist) == 2 and tensor_util.make_ndarray(hist[0].tensor_proto).shape[-1] == 3  # (left, right, count) bins
    norms = series(grads, "gradient_norm/global")
    assert len(norms) == 2 and all(n > 0 and np.isfinite(n) for n in norms)
    assert replace_refusal(run) is None  # the folder keeps the run replaceable by --overwrite
