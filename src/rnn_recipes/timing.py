"""Generated timing data: two spikes in a sequence of zeros, the number of steps between them as the class.

The peephole LSTM's home ground (Gers, Schraudolph and Schmidhuber 2002,
"Learning precise timing with LSTM recurrent networks"): the classes differ
only in when the second spike comes, so a network must count steps, and
hold the count through the zeros that follow until the sequence ends.
Nothing is downloaded; one seed gives the same sequences everywhere.

Example:
    >>> from rnn_recipes.config_data import TimingData
    >>> ds = load_timing(TimingData(time_steps=8, min_gap=2, max_gap=4, train_size=10, test_size=3), seed=0)
    >>> ds.x_train.shape, ds.spec.num_classes, ds.spec.task
    ((9, 8, 1), 3, 'multiclass')
    >>> x, gap = ds.x_test[0, :, 0], ds.y_test[0] + 2
    >>> bool(np.flatnonzero(x)[1] - np.flatnonzero(x)[0] == gap)
    True
"""

from __future__ import annotations

import numpy as np

from rnn_recipes.config_data import TimingData
from rnn_recipes.dataset import TASK_OF_KIND, Dataset, DataSpec


def spike_pairs(n: int, d: TimingData, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` sequences (n, time_steps, 1) of two unit spikes `gap` steps apart, and the classes gap - min_gap.

    The first spike falls anywhere that leaves room for the second, so its
    position says nothing about the class.
    """
    gaps = rng.integers(d.min_gap, d.max_gap + 1, n)
    starts = (rng.random(n) * (d.time_steps - gaps)).astype(int)  # uniform in [0, time_steps - gap)
    x = np.zeros((n, d.time_steps, 1), np.float32)
    rows = np.arange(n)
    x[rows, starts, 0] = 1.0
    x[rows, starts + gaps, 0] = 1.0
    if d.noise:
        x += rng.normal(0.0, d.noise, x.shape).astype(np.float32)
    return x, (gaps - d.min_gap).astype(np.int32)


def timing_spec(d: TimingData) -> DataSpec:
    """One class per interval, real-valued input (one value per step)."""
    return DataSpec(TASK_OF_KIND[d.kind], d.time_steps, num_classes=d.max_gap - d.min_gap + 1)


def load_timing(d: TimingData, seed: int) -> Dataset:
    """Training (minus the last `val_split` share, held out to validate) and test sequences, from two seeded streams."""
    train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    x, y = spike_pairs(d.train_size, d, train_rng)
    x_test, y_test = spike_pairs(d.test_size, d, test_rng)
    n_val = int(round(d.train_size * d.val_split))
    cut = d.train_size - n_val
    return Dataset(timing_spec(d), x[:cut], y[:cut], x[cut:], y[cut:], x_test, y_test)
