"""Training in intervals of `train.eval_every` steps: an endless, seeded stream of batches, and its length.

With `train.eval_every: N`, Keras' "epoch" is an interval of N optimizer
steps (`fit(steps_per_epoch=N)`), so validation, the history, checkpoints,
early stopping, schedules and samples all work per interval unchanged. The
batches are the pipeline's: pass p over the training set in pass p's seeded
order, then pass p + 1; the batch at global position s therefore depends only
on the seed and s, and a run resumed after k intervals starts at s = k * N
and sees exactly what an uninterrupted run would.

May import: config, pipeline.
"""

from __future__ import annotations

import math

import numpy as np

from rnn_recipes.config import Config
from rnn_recipes.pipeline import epoch_batches, prefetched, signature


def interval_count(cfg: Config, steps_per_pass: int) -> int:
    """Intervals of `train.eval_every` steps that cover `train.epochs` passes (the last pass may run on)."""
    return math.ceil(cfg.train.epochs * steps_per_pass / cfg.train.eval_every)


def positions(first_step: int, steps_per_pass: int):
    """(pass, batch index within it) of the stream's batches, from global step `first_step` on."""
    step = first_step
    while True:
        yield divmod(step, steps_per_pass)
        step += 1


def interval_dataset(x: np.ndarray, y: np.ndarray, cfg: Config, steps_per_pass: int, first_step: int = 0):
    """An endless prefetching `tf.data.Dataset` of training batches from global step `first_step` on.

    Args:
        x, y: the training arrays.
        cfg: the run config (seed, batch size, shuffle, bucketing).
        steps_per_pass: batches in one pass over the training set.
        first_step: where the stream starts (a resumed run's intervals x eval_every).
    """
    import tensorflow as tf

    def generate():
        current, batches = None, None
        for p, i in positions(first_step, steps_per_pass):
            if p != current:  # the next pass: its seeded order, from its first batch needed
                current, batches = p, epoch_batches(x, y, cfg, p)
                for _ in range(i):
                    next(batches)
            yield next(batches)

    return prefetched(tf.data.Dataset.from_generator(generate, output_signature=signature(x, y, cfg)))
