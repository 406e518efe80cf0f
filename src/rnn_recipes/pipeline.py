"""The training input pipeline: which examples form each batch, and a prefetching tf.data stream of them.

The batch plan is pure NumPy, so it is exact and testable without TensorFlow:
every epoch is a permutation drawn from (seed, epoch), cut into batches of
exactly `batch_size` (the last one partial). For padded token ids read with a
mask, `bucketing` groups reviews of similar length and cuts each batch down to
its bucket's width, so a 30-token review no longer costs 500 steps; because
masked steps leave the recurrent state untouched, the model computes exactly
what it would on the full-width rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rnn_recipes.config import Config
from rnn_recipes.dataset import rows, take
from rnn_recipes.runtime import decide_bucketing

MIN_BUCKET = 16  # shorter buckets save little and each width is one more trace
PREFETCH = 2  # batches a training stream draws ahead of the train step


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The order of the `n` training examples in `epoch` (0-based): a seeded permutation, or 0..n-1."""
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([seed, epoch]).permutation(n)


def batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """`order` cut into consecutive batches of `batch_size` indices; the last may be smaller."""
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def token_lengths(x: np.ndarray) -> np.ndarray:
    """Per row, the span from the first to the last non-zero id (0 is padding); 0 for an all-padding row."""
    nonzero = x != 0
    any_token = nonzero.any(axis=1)
    first = np.argmax(nonzero, axis=1)
    last = x.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
    return np.where(any_token, last - first, 0)


def bucket_widths(maxlen: int) -> np.ndarray:
    """Bucket widths 16, 24, 32, 48, 64, 96, ... (steps of ~1.4x), capped by and ending at `maxlen`.

    Few widths keep the number of traced step functions small; the ~1.4x steps
    keep the padding a batch still carries under ~30%.
    """
    widths, w = [], MIN_BUCKET
    while w < maxlen:
        widths.append(w)
        w = w * 3 // 2 if w & (w - 1) == 0 else w * 4 // 3  # 16 -> 24 -> 32 -> 48 -> 64 ...
    return np.array([*widths, maxlen])


def bucket_batches(lengths: np.ndarray, batch_size: int, widths: np.ndarray, seed: int, epoch: int,
                   shuffle: bool = True) -> list[tuple[np.ndarray, int]]:
    """Batches of similar-length examples: (indices, width) pairs, each index exactly once.

    Each example goes to the narrowest bucket that holds it; within a bucket the
    examples are shuffled and cut into batches of `batch_size` (the bucket's last
    batch may be smaller); the batches of all buckets are then shuffled together.

    Args:
        lengths: tokens per example (see `token_lengths`).
        batch_size: examples per batch.
        widths: ascending bucket widths, the last >= max(lengths).
        seed, epoch: what the shuffles are drawn from.
        shuffle: False keeps examples in index order and buckets by width.
    """
    rng = np.random.default_rng([seed, epoch])
    bucket = np.searchsorted(widths, lengths, side="left")
    plan: list[tuple[np.ndarray, int]] = []
    for b, width in enumerate(widths):
        members = np.flatnonzero(bucket == b)
        if shuffle:
            members = rng.permutation(members)
        plan.extend((idx, int(width)) for idx in batches(members, batch_size))
    if shuffle:
        plan = [plan[i] for i in rng.permutation(len(plan))]
    return plan


def trim(x: np.ndarray, width: int, padding: str) -> np.ndarray:
    """The `width` columns of padded rows that hold their tokens: the last ones for pre padding."""
    return x[:, x.shape[1] - width :] if padding == "pre" else x[:, :width]


def use_bucketing(cfg: Config) -> bool:
    """Whether training batches are bucketed by length (the choice and its reason: `runtime.decide_bucketing`)."""
    return decide_bucketing(cfg)[0]


def epoch_batches(x: np.ndarray, y: np.ndarray, cfg: Config, epoch: int,
                  keep: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The (x, y) batches of one training epoch, as NumPy arrays, in training order.

    `keep` trains on only the first `keep` examples of the epoch's order (a
    distributed run's even split); bucketed runs, always single-device, keep all.
    """
    t = cfg.train
    if use_bucketing(cfg):
        widths = bucket_widths(x.shape[1])
        plan = bucket_batches(token_lengths(x), t.batch_size, widths, cfg.seed, epoch, t.shuffle)
        for idx, width in plan:
            yield trim(x[idx], width, cfg.data.padding), y[idx]
        return
    for idx in batches(epoch_order(rows(x), cfg.seed, epoch, t.shuffle)[:keep], t.batch_size):
        yield take(x, idx), y[idx]


def signature(x: np.ndarray | tuple, y: np.ndarray, cfg: Config, keep: int | None = None):
    """The tf.data element spec of (x, y) batches; x may be a tuple of arrays (a seq2seq model's two inputs).

    The batch dimension is `batch_size` where every batch is full (no
    bucketing, and the examples an epoch draws a multiple of it), else None:
    a step traced for a known batch ran 1.04x to 1.08x faster without XLA
    (docs/benchmarks.md, "The training stream").
    """
    import tensorflow as tf

    bucketed = use_bucketing(cfg)
    n = rows(x) if keep is None else min(keep, rows(x))
    batch = cfg.train.batch_size if not bucketed and n % cfg.train.batch_size == 0 else None
    if isinstance(x, tuple):
        return tuple(tf.TensorSpec((batch, *a.shape[1:]), tf.as_dtype(a.dtype)) for a in x), \
            tf.TensorSpec((batch, *y.shape[1:]), tf.as_dtype(y.dtype))
    width = None if bucketed else x.shape[1]  # bucketed batches come in several widths
    return (
        tf.TensorSpec((batch, width, *x.shape[2:]), tf.as_dtype(x.dtype)),
        tf.TensorSpec((batch, *y.shape[1:]), tf.as_dtype(y.dtype)),
    )


def steps_per_epoch(x: np.ndarray, cfg: Config, keep: int | None = None) -> int:
    """How many batches every training epoch has (the same each epoch)."""
    return sum(1 for _ in _plan_sizes(x, cfg, keep))


def epochs_dataset(x: np.ndarray, y: np.ndarray, cfg: Config, first_epoch: int = 0, last_epoch: int | None = None,
                   keep: int | None = None):
    """A prefetching `tf.data.Dataset` of the batches of epochs `first_epoch` to `last_epoch - 1`, in order.

    The epoch is an explicit value: a dataset over the epoch indices, each
    mapped to that epoch's `epoch_batches`. So epoch `e`'s batches depend
    only on (seed, e), however often the dataset is opened or iterated; a
    fresh pass starts again at `first_epoch`. Feed it to `model.fit` with
    `steps_per_epoch`, so Keras reads one epoch's batches per epoch from a
    single iterator.

    Args:
        x, y: the training arrays.
        cfg: the run config (seed, batch size, shuffle, bucketing, padding).
        first_epoch: the first epoch drawn (a resumed run's `initial_epoch`).
        last_epoch: one past the last epoch drawn; default `train.epochs`.
        keep: train on the first `keep` examples of each epoch's order (default: all).

    A resumed run passes its `initial_epoch` as `first_epoch` and
    `steps_per_epoch(x, cfg)` to `fit`, so epoch e draws the same batches
    however often Keras opens the stream.
    """
    import tensorflow as tf

    last_epoch = cfg.train.epochs if last_epoch is None else last_epoch
    element = signature(x, y, cfg, keep)

    def one_epoch(epoch):  # `epoch` arrives as a NumPy int64
        yield from epoch_batches(x, y, cfg, int(epoch), keep)

    def batches_of(epoch):
        return tf.data.Dataset.from_generator(one_epoch, args=(epoch,), output_signature=element)

    n_batches = steps_per_epoch(x, cfg, keep) * max(last_epoch - first_epoch, 0)
    ds = tf.data.Dataset.range(first_epoch, last_epoch).flat_map(batches_of)
    return prefetched(ds.apply(tf.data.experimental.assert_cardinality(n_batches)))


def prefetched(ds):
    """`ds` drawing `PREFETCH` batches ahead of training, with tf.data's autotuning off.

    Autotuning would size this one buffer, nothing else; and its background
    thread sleeps on a doubling schedule (10 ms, 20 ms, ... up to a minute)
    that deleting the iterator waits out: with it, `fit` returned up to
    seconds after a run's last epoch had ended.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(PREFETCH).with_options(options)


def _plan_sizes(x: np.ndarray, cfg: Config, keep: int | None = None) -> Iterator[int]:
    """Batch sizes of an epoch (the same every epoch), without gathering any data."""
    if use_bucketing(cfg):
        for idx, _ in bucket_batches(token_lengths(x), cfg.train.batch_size, bucket_widths(x.shape[1]), 0, 0, False):
            yield len(idx)
    else:
        for idx in batches(np.arange(rows(x))[:keep], cfg.train.batch_size):
            yield len(idx)
