"""The training pipeline: exact batches from the arrays, bucketing by length, and the batch size a config names."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY
from rnn_recipes.config import Config
from rnn_recipes.config_load import build_config, load_config
from rnn_recipes.errors import ConfigError
from rnn_recipes.pipeline import (
    bucket_batches, bucket_widths, epoch_batches, epochs_dataset, steps_per_epoch, token_lengths, use_bucketing,
)


def imdb_cfg(batch_size: int = 32, padding: str = "pre", mask_zero: bool = False, **train) -> Config:
    return Config.model_validate({
        "seed": 7,
        "data": {"kind": "imdb", "maxlen": 40, "padding": padding},
        "encoding": {"kind": "embedding", "mask_zero": mask_zero},
        "train": {"batch_size": batch_size, **train},
    })


def padded_reviews(n: int, maxlen: int, padding: str, seed: int = 0) -> np.ndarray:
    """Rows of 1..maxlen non-zero ids, padded with zeros before or after."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, maxlen), "int32")
    for i, length in enumerate(rng.integers(1, maxlen + 1, n)):
        ids = rng.integers(1, 50, length)
        if padding == "pre":
            x[i, maxlen - length :] = ids
        else:
            x[i, :length] = ids
    return x


def test_unbucketed_batches_are_the_arrays_in_a_seeded_order():
    x = np.arange(100 * 3, dtype="int32").reshape(100, 3) + 1
    y = np.arange(100, dtype="float32")
    cfg = imdb_cfg(batch_size=32)
    epoch0 = list(epoch_batches(x, y, cfg, epoch=0))
    assert [len(b) for b, _ in epoch0] == [32, 32, 32, 4]  # exactly the named size, then the remainder
    order = np.concatenate([by for _, by in epoch0]).astype(int)
    assert sorted(order) == list(range(100)) and list(order) != list(range(100))
    np.testing.assert_array_equal(np.concatenate([bx for bx, _ in epoch0]), x[order])  # rows stay with labels
    again = np.concatenate([by for _, by in epoch_batches(x, y, cfg, epoch=0)])
    np.testing.assert_array_equal(again, order)  # same seed and epoch: same order
    other = np.concatenate([by for _, by in epoch_batches(x, y, cfg, epoch=1)])
    assert list(other) != list(order)  # each epoch reshuffles
    fixed = np.concatenate([by for _, by in epoch_batches(x, y, imdb_cfg(shuffle=False), epoch=3)])
    np.testing.assert_array_equal(fixed, y)


def test_token_lengths_span_the_ids_on_either_padding_side():
    x = np.array([[0, 0, 5, 0, 6], [7, 8, 0, 0, 0], [0, 0, 0, 0, 0], [1, 2, 3, 4, 5]])
    assert token_lengths(x).tolist() == [3, 2, 0, 5]


def test_bucket_widths_are_few_and_end_at_maxlen():
    assert bucket_widths(500).tolist() == [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 500]
    assert bucket_widths(10).tolist() == [10]


@pytest.mark.parametrize("padding", ["pre", "post"])
def test_bucketing_keeps_every_example_once_and_every_token(padding):
    x = padded_reviews(300, 40, padding)
    y = np.arange(300, dtype="float32")
    cfg = imdb_cfg(batch_size=32, padding=padding, mask_zero=True)
    assert use_bucketing(cfg)
    got = list(epoch_batches(x, y, cfg, epoch=0))
    seen = np.concatenate([by for _, by in got]).astype(int)
    assert sorted(seen) == list(range(300))
    assert all(len(by) <= 32 for _, by in got)
    widths = {bx.shape[1] for bx, _ in got}
    assert widths <= set(bucket_widths(40)) and len(widths) > 1
    for bx, by in got:  # trimming drops padding only: every token is still there, in order
        for row, i in zip(bx, by.astype(int)):
            np.testing.assert_array_equal(row[row != 0], x[i][x[i] != 0])
    plan = bucket_batches(token_lengths(x), 32, bucket_widths(40), seed=7, epoch=0)
    full = sum(1 for idx, _ in plan if len(idx) == 32)
    assert full >= len(plan) - len(bucket_widths(40))  # at most one partial batch per bucket


def test_bucketing_is_on_only_where_it_changes_nothing():
    assert not use_bucketing(imdb_cfg(mask_zero=False))  # the seed: post padding, no mask
    assert use_bucketing(imdb_cfg(mask_zero=True))
    assert not use_bucketing(imdb_cfg(mask_zero=True, bucketing=False))
    assert use_bucketing(imdb_cfg(mask_zero=False, bucketing=True))
    with pytest.raises(ConfigError, match="train.bucketing groups padded IMDB reviews"):
        build_config({"data": {"kind": "sine"}, "train": {"bucketing": True}})
    with pytest.raises(ConfigError, match="train.jit_compile"):
        build_config({"data": {"kind": "sine"}, "train": {"jit_compile": "sometimes"}})


def test_a_masked_model_gives_the_same_outputs_on_trimmed_batches():
    from rnn_recipes.data import DataSpec
    from rnn_recipes.model import build_model

    cfg = Config.model_validate({
        "data": {"kind": "imdb", "maxlen": 40, "padding": "pre"},
        "encoding": {"kind": "embedding", "dim": 4, "mask_zero": True},
        "model": {"cell": "lstm", "units": 5, "bidirectional": True},
    })
    model = build_model(cfg, DataSpec("binary", 40, vocab_size=50))
    x = padded_reviews(64, 40, "pre", seed=1)
    y = np.arange(64, dtype="float32")  # labels that name their rows
    batches = list(epoch_batches(x, y, cfg, epoch=0))
    assert any(bx.shape[1] < 40 for bx, _ in batches)
    for bx, by in batches:
        full = model.predict(x[by.astype(int)], verbose=0)
        np.testing.assert_allclose(model.predict(bx, verbose=0), full, atol=1e-6)


def read_epochs(ds, steps: int, epochs: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """The stream as `model.fit(ds, steps_per_epoch=steps)` reads it: one iterator, `steps` batches an epoch."""
    it = iter(ds)
    return [[tuple(t.numpy() for t in next(it)) for _ in range(steps)] for _ in range(epochs)]


def test_the_tf_dataset_yields_the_planned_batches_and_a_new_epoch_each_epoch():
    x = padded_reviews(70, 40, "pre", seed=2)
    y = np.arange(70, dtype="float32")
    for cfg in (imdb_cfg(batch_size=16, epochs=2), imdb_cfg(batch_size=16, mask_zero=True, epochs=2)):
        steps = steps_per_epoch(x, cfg)
        ds = epochs_dataset(x, y, cfg)
        assert ds.cardinality().numpy() == 2 * steps
        got = read_epochs(ds, steps, 2)
        for epoch in range(2):
            want = list(epoch_batches(x, y, cfg, epoch))
            assert len(got[epoch]) == len(want) == steps
            for (gx, gy), (wx, wy) in zip(got[epoch], want):
                np.testing.assert_array_equal(gx, wx)  # bucketed batches keep their own widths
                np.testing.assert_array_equal(gy, wy)
        assert not all(np.array_equal(a[1], b[1]) for a, b in zip(*got))  # the second epoch is reshuffled


def test_a_resumed_run_draws_the_batches_an_uninterrupted_run_would():
    x = padded_reviews(70, 40, "pre", seed=3)
    y = np.arange(70, dtype="float32")
    cfg = imdb_cfg(batch_size=16, epochs=5)
    steps = steps_per_epoch(x, cfg)
    resumed = [by for epoch in read_epochs(epochs_dataset(x, y, cfg, first_epoch=3), steps, 2) for _, by in epoch]
    uninterrupted = [by for epoch in read_epochs(epochs_dataset(x, y, cfg), steps, 5)[3:] for _, by in epoch]
    want = [by for e in (3, 4) for _, by in epoch_batches(x, y, cfg, e)]
    assert len(resumed) == len(uninterrupted) == len(want)
    for r, u, w in zip(resumed, uninterrupted, want):
        np.testing.assert_array_equal(r, w)
        np.testing.assert_array_equal(u, w)
    assert not all(np.array_equal(g, w) for g, (_, w) in zip(resumed, epoch_batches(x, y, cfg, 0)))


def test_the_epochs_stream_gives_each_epoch_its_own_batches_however_often_it_is_opened():
    x = padded_reviews(70, 40, "pre", seed=4)
    y = np.arange(70, dtype="float32")
    for cfg in (imdb_cfg(batch_size=16, epochs=4), imdb_cfg(batch_size=16, mask_zero=True, epochs=4)):
        steps = steps_per_epoch(x, cfg)
        want = [by for e in range(1, 4) for _, by in epoch_batches(x, y, cfg, e)]
        ds = epochs_dataset(x, y, cfg, first_epoch=1)  # a resumed run: epochs 1, 2, 3
        assert ds.cardinality().numpy() == len(want) == 3 * steps
        next(iter(ds))  # opened and read once more, as Keras does to learn the shapes
        for _ in range(2):  # every pass is the same: the epochs come from their indices, not from a count
            got = [by.numpy() for _, by in ds]
            assert len(got) == len(want)
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)
        partial = iter(ds)
        head = [by.numpy() for _, (_, by) in zip(range(steps + 1), partial)]  # a pass cut short mid-epoch
        np.testing.assert_array_equal(head[-1], want[steps])
        np.testing.assert_array_equal([by.numpy() for _, by in ds.take(1)][0], want[0])


def test_the_training_streams_draw_ahead_with_tf_data_autotuning_off():
    """Deleting an autotuned iterator waits out the autotuner thread's sleep (a doubling schedule): runs ended
    up to seconds after their last epoch. The streams prefetch a fixed number of batches instead."""
    from rnn_recipes.intervals import interval_dataset
    from rnn_recipes.pipeline import PREFETCH

    x = padded_reviews(70, 40, "pre", seed=5)
    y = np.arange(70, dtype="float32")
    cfg = imdb_cfg(batch_size=16, epochs=2)
    for ds in (epochs_dataset(x, y, cfg), interval_dataset(x, y, cfg, steps_per_epoch(x, cfg))):
        assert ds.options().autotune.enabled is False
        assert ds._input_dataset._buffer_size.numpy() == PREFETCH  # under the options: prefetch, a fixed buffer


@pytest.mark.slow
def test_a_config_naming_batch_size_32_trains_with_32(monkeypatch, tmp_path):
    import importlib

    import tensorflow as tf

    import rnn_recipes.pipeline as pipeline_module

    train_module = importlib.import_module("rnn_recipes.train")  # `rnn_recipes.train` is the API function

    seen: list[int] = []
    real = pipeline_module.epochs_dataset

    def recording(*args, **kwargs):
        def record(bx, by):
            tf.py_function(lambda n: seen.append(int(n)), [tf.shape(bx)[0]], [])
            return bx, by

        return real(*args, **kwargs).map(record)

    monkeypatch.setattr(pipeline_module, "epochs_dataset", recording)
    cfg = load_config(TINY / "sine_stacked_gru.yaml", ["train.batch_size=32", "train.epochs=2", "model.units=2"])
    train_module.train(cfg, tmp_path / "run", verbose=0)
    # 110 windows per epoch, in batches of exactly 32; each batch read once (Keras reads the 2-epoch stream on)
    assert seen == [32, 32, 32, 14] * 2


def assert_same_batches(got, want):
    assert len(got) == len(want)
    for (gx, gy), (wx, wy) in zip(got, want):
        for g, w in zip(gx if isinstance(wx, tuple) else (gx,), wx if isinstance(wx, tuple) else (wx,)):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)
        assert gy.dtype == wy.dtype
        np.testing.assert_array_equal(gy, wy)


def numpy_batch(bx, by):
    return tuple(a.numpy() for a in bx) if isinstance(bx, tuple) else bx.numpy(), by.numpy()


@pytest.mark.parametrize("case", ["plain", "bucketed-pre", "bucketed-post", "tuple-x", "keep"])
def test_the_stream_gives_exactly_the_numpy_batches_epoch_after_epoch(case):
    from rnn_recipes.intervals import interval_dataset
    from rnn_recipes.pipeline import signature

    padding = "post" if case == "bucketed-post" else "pre"
    cfg = imdb_cfg(batch_size=16, padding=padding, mask_zero=case.startswith("bucketed"), epochs=3)
    assert use_bucketing(cfg) == case.startswith("bucketed")
    x = padded_reviews(75, 40, padding, seed=5)
    if case == "tuple-x":  # a seq2seq model's two inputs: source ids and decoder input ids
        x = (x, np.arange(75 * 6, dtype="int64").reshape(75, 6))
    y = np.arange(75 * 2, dtype="int32").reshape(75, 2)
    keep = 64 if case == "keep" else None
    steps = steps_per_epoch(x, cfg, keep)
    want = [list(epoch_batches(x, y, cfg, e, keep)) for e in range(3)]
    ds = epochs_dataset(x, y, cfg, keep=keep)
    assert ds.element_spec == signature(x, y, cfg, keep) and ds.cardinality().numpy() == 3 * steps
    # a step is traced for a known batch only where every batch is full: 64 kept rows are 4 of 16, 75 rows are not
    x_spec = ds.element_spec[0][0] if isinstance(x, tuple) else ds.element_spec[0]
    assert x_spec.shape[0] == (16 if case == "keep" else None)
    for _ in range(2):  # each pass over the dataset is the same three epochs
        assert_same_batches([numpy_batch(*b) for b in ds], [b for epoch in want for b in epoch])
    if case.startswith("bucketed"):  # the widths differ from batch to batch, as the plan cut them
        assert len({b[0].shape[1] for b in want[0]}) > 1
    if keep is None:  # the interval stream resumed mid-pass: pass 1 from its 3rd batch on, then pass 2
        it = iter(interval_dataset(x, y, cfg, steps, first_step=steps + 2))
        assert_same_batches([numpy_batch(*next(it)) for _ in range(2 * steps - 2)], want[1][2:] + want[2])
