"""The training stream, in one process: the same model fitted on the project's stream, a gathered candidate, Keras arrays.

    python -m benchmarks.stream                       # the three cases below, best of 5 epochs each
    python -m benchmarks.stream --cases lstm-64-500-b32-masked --repeats 3

Paths, each its own model built from the same seed, no XLA, timed one epoch at
a time by callbacks (`matrix.timed_fit`: from the epoch's start to its end, not
around `fit`), epochs interleaved so load from other programs hits all alike:

- generator: `pipeline.epochs_dataset`, a `from_generator` over
  `epoch_batches` per epoch (one Python call per batch);
- gathered: the candidate kept here, `gathered_epochs_dataset`: per epoch one
  `tf.numpy_function` draws the plan (rows in order, batch bounds, widths) and
  each batch is a `tf.gather` inside tf.data, as Keras' array adapter does (no
  Python per batch);
- static: the generator stream with the batch dimension pinned to
  `batch_size` (`tf.ensure_shape`), as Keras' array adapter's full batches
  are; only where every batch is full (not bucketed, no partial last batch);
- arrays: Keras' `fit(x, y, batch_size=...)` on the full-width arrays (for a
  masked case this is not the same work: the streams are bucketed by length).

Before timing, the gathered stream is read over two epochs and must give the
generator's batches (rows, order, widths, dtypes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from benchmarks.matrix import Case, _config, make_data, timed_fit
from benchmarks.training import machine

CASES = ["bilstm-64-100-b32-one", "lstm-64-500-b32-masked", "gru-256-100-b128-seq"]
PATHS = ["generator", "gathered", "static", "arrays"]


def epoch_plan(x, cfg, epoch: int, keep: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`epoch_batches`' batches as index arrays: (rows in training order, batch bounds, batch widths)."""
    from rnn_recipes.dataset import rows
    from rnn_recipes.pipeline import batches, bucket_batches, bucket_widths, epoch_order, token_lengths, use_bucketing

    t = cfg.train
    if use_bucketing(cfg):
        plan = bucket_batches(token_lengths(x), t.batch_size, bucket_widths(x.shape[1]), cfg.seed, epoch, t.shuffle)
        order = np.concatenate([idx for idx, _ in plan]) if plan else np.zeros(0, np.int64)
        sizes = [len(idx) for idx, _ in plan]
        widths = np.array([width for _, width in plan], np.int64)
    else:
        order = epoch_order(rows(x), cfg.seed, epoch, t.shuffle)[:keep]
        sizes = [len(idx) for idx in batches(order, t.batch_size)]
        widths = np.zeros(len(sizes), np.int64)  # unused: an unbucketed batch keeps every column
    return order.astype(np.int64), np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64), widths


def gathered_epochs_dataset(x, y, cfg, first_epoch=0, last_epoch=None, keep=None):
    """`pipeline.epochs_dataset`'s batches, gathered inside tf.data from one plan per epoch (no Python per batch)."""
    import tensorflow as tf

    from rnn_recipes.pipeline import steps_per_epoch, use_bucketing

    last_epoch = cfg.train.epochs if last_epoch is None else last_epoch
    bucketed = use_bucketing(cfg)
    pre = bucketed and cfg.data.padding == "pre"
    with tf.device("/cpu:0"):  # tf.data runs on the host
        arrays = tf.data.Dataset.from_tensors(tf.nest.map_structure(tf.convert_to_tensor, (x, y))).repeat()

    def spans_of(epoch):
        plan = tf.numpy_function(lambda e: epoch_plan(x, cfg, int(e), keep), [epoch], (tf.int64,) * 3)
        for t in plan:
            t.set_shape([None])
        order, bounds, widths = plan
        spans = tf.data.Dataset.from_tensor_slices((bounds[:-1], bounds[1:], widths))
        return spans.map(lambda start, stop, width: (order[start:stop], width))

    def gather(span, data):
        (idx, width), (ax, ay) = span, data
        bx = tf.nest.map_structure(lambda a: tf.gather(a, idx), ax)
        if bucketed:  # keep the columns `pipeline.trim` keeps
            bx = bx[:, tf.shape(bx, out_type=tf.int64)[1] - width :] if pre else bx[:, :width]
        return bx, tf.gather(ay, idx)

    n_batches = steps_per_epoch(x, cfg, keep) * max(last_epoch - first_epoch, 0)
    spans = tf.data.Dataset.range(first_epoch, last_epoch).flat_map(spans_of)
    ds = tf.data.Dataset.zip(spans, arrays).map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(tf.data.AUTOTUNE)


def pinned(ds, batch: int):
    """`ds` with its batch dimension known to be `batch` (every batch must be full)."""
    import tensorflow as tf

    return ds.map(lambda bx, by: tuple(tf.ensure_shape(t, (batch, *t.shape[1:])) for t in (bx, by)))


def parse_case(name: str) -> Case:
    cell, units, steps, batch, output = name.split("-")
    return Case(cell, int(units), int(steps), int(batch[1:]), output)


def same_batches(old, new) -> bool:
    """Whether two streams give the same batches: values, shapes and dtypes."""
    a, b = list(old), list(new)
    return len(a) == len(b) and all(
        u.dtype == v.dtype and u.shape == v.shape and np.array_equal(u.numpy(), v.numpy())
        for p, q in zip(a, b) for u, v in zip(p, q))


def measure(case: Case, repeats: int, samples: int | None = None) -> dict[str, list[float]]:
    """Seconds per epoch of each path that applies, `repeats` interleaved epochs after one untimed each."""
    from rnn_recipes.model import build_model, compile_model
    from rnn_recipes.pipeline import epochs_dataset, steps_per_epoch, use_bucketing
    from rnn_recipes.runtime import for_training
    from rnn_recipes.train import seed_everything

    data = make_data(case)
    x, y = (data["x_pre"][:samples], data["y"][:samples]) if samples else (data["x_pre"], data["y"])
    cfg, spec = _config(case, False)
    rt = for_training(cfg)  # as `rnn train` sets up its process
    two = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 2})})
    if not same_batches(epochs_dataset(x, y, two), gathered_epochs_dataset(x, y, two)):
        raise SystemExit(f"{case.name}: the gathered stream's batches differ from the generator's")
    steps = steps_per_epoch(x, cfg)
    full = not use_bucketing(cfg) and len(x) % case.batch == 0
    streams = {"generator": lambda: epochs_dataset(x, y, cfg), "gathered": lambda: gathered_epochs_dataset(x, y, cfg),
               "static": lambda: pinned(epochs_dataset(x, y, cfg), case.batch)}
    epochs = {}
    for path in PATHS:
        if path == "static" and not full:
            continue
        seed_everything(cfg.seed, deterministic_ops=rt.deterministic_ops)
        net = compile_model(build_model(cfg, spec, rt), cfg, spec, rt)
        if path == "arrays":
            epochs[path] = timed_fit(net, x, y, batch_size=case.batch, shuffle=False)
        else:  # epoch 0's batches, as `rnn train` feeds them; each call times that epoch
            epochs[path] = timed_fit(net, streams[path](), steps_per_epoch=steps, shuffle=False)
    for epoch in epochs.values():  # traces and first-epoch costs, untimed
        epoch()
    times = {path: [] for path in epochs}
    for _ in range(repeats):
        for path, epoch in epochs.items():
            times[path].append(epoch())
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=CASES, help="<cell>-<units>-<steps>-b<batch>-<one|seq|masked>")
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per path; the best is reported")
    parser.add_argument("--samples", type=int, help=argparse.SUPPRESS)  # a microscopic run for the tests
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    info = machine()
    print(f"{info['cpu']}, {info['cores']} cores; Python {info['python']}, TensorFlow {info['tensorflow']}, "
          f"Keras {info['keras']}, NumPy {info['numpy']}; no XLA; best of {args.repeats} epochs, interleaved")
    print("load average at start: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    print("| case | generator s | gathered s | static s | arrays s | generator / gathered | generator / arrays "
          "| gathered / arrays | static / arrays |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.cases:
        best = {path: min(t) for path, t in measure(parse_case(name), args.repeats, args.samples).items()}
        static = best.get("static")
        cells = [f"{best['generator']:.3f}", f"{best['gathered']:.3f}", "n/a" if static is None else f"{static:.3f}",
                 f"{best['arrays']:.3f}", f"{best['generator'] / best['gathered']:.2f}x",
                 f"{best['generator'] / best['arrays']:.2f}x", f"{best['gathered'] / best['arrays']:.2f}x",
                 "n/a" if static is None else f"{static / best['arrays']:.2f}x"]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print("load average at end: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"command: python -m benchmarks.stream {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip())


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
