"""`jit_compile: auto` decided by timing: a few train steps of the run's own model, batch and data, each way.

The static rules in `runtime.decide_jit` keep XLA off where it is known to lose
(bucketed widths, two directions, bfloat16, a GPU, tf.distribute). Where they
would turn it on (one CPU device, one batch shape, one direction) the two paths
measured within a few percent of each other on some workloads and 1.5x apart on
others (docs/benchmarks.md), so `settle` times them instead:

- Rule for when to time: the run's estimated training work (recurrent and
  input matmuls, forward and backward, over every epoch) is at least
  `MIN_GFLOP`. Timing costs an XLA compile plus a compile without it (2 to 8 s
  here); below the threshold a whole run takes seconds, the best the choice
  can save is about a third of that, and the static rule stands (the tiny CI
  configs never pay for a measurement).
- What is timed: `STEPS` train steps per path, interleaved (on, off, on, off,
  ...) after one warm-up step each, on throwaway models built from the same
  config and fed the first training batch; the faster fastest step wins (load from other programs only adds time). The run's
  own model is built afterwards from a fresh seed, so the measurement changes
  neither its initial weights nor its optimizer state.
- Cache: the decision is stored in `<cache dir>/autotune.json` (the directory
  `data.cache_dir()` names, `~/.cache/rnn-recipes` by default), keyed by a hash
  of the model, encoding and precision config, the batch shape, the package
  versions and the CPU model; a rerun reads it and times nothing.

The record says what was chosen and by how much, e.g.
`XLA off (measured: 1.52x faster without, 4+4 steps)`, with `jit_source`
"measured" and the per-step times in `jit_measured`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from rnn_recipes.config import Config
from rnn_recipes.dataset import rows, take
from rnn_recipes.runtime import Runtime

MIN_GFLOP = 500.0  # ~25 s of training on this 2-core CPU at the ~20 GFLOP/s an LSTM step reaches
STEPS = 4  # timed steps per path, after one warm-up step each
SLOW_STEP_S = 1.0  # when a warm-up step (after the compile) takes longer, time 2 steps per path instead
GATES = {"simple_rnn": 1, "gru": 3, "lstm": 4, "peephole_lstm": 4}


def training_gflop(cfg: Config, x_train: np.ndarray, input_dim: int) -> float:
    """The run's training work in GFLOP: 3 x the forward matmuls (2 x m x n x k) of every layer, step and epoch."""
    m = cfg.model
    if isinstance(x_train, tuple):  # seq2seq: the encoder's steps and the decoder's
        steps, x_train = sum(a.shape[1] for a in x_train), x_train[0]
    else:
        steps = x_train.shape[1] if x_train.ndim > 1 else 1
    directions = 2 if m.bidirectional else 1
    flop, width = 0.0, input_dim
    for _ in range(m.layers):
        flop += directions * 2 * GATES[m.cell] * m.units * (width + m.units)
        width = m.units * directions
    return 3 * flop * steps * len(x_train) * cfg.train.epochs / 1e9


def input_dim(cfg: Config, vocab_size: int) -> int:
    """Features per step the first recurrent layer reads."""
    enc = cfg.encoding
    if not vocab_size or enc is None or enc.kind == "integer":
        return 1
    return vocab_size if enc.kind == "onehot" else enc.dim


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def signature(cfg: Config, batch_shape: tuple[int, ...]) -> str:
    """The cache key: what the timing depends on, hashed."""
    key = {
        "model": cfg.model.model_dump(mode="json"),
        "encoding": cfg.encoding.model_dump(mode="json") if cfg.encoding else None,
        "precision": cfg.train.precision,
        "optimizer": cfg.train.optimizer,
        "clip": [cfg.train.clipnorm, cfg.train.clipvalue],
        "data": [cfg.data.kind, getattr(cfg.data, "objective", None)],
        "batch_shape": list(batch_shape),
        "versions": {n: _version(n) for n in ("rnn-recipes", "tensorflow", "keras", "numpy")},
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "env": {k: os.environ.get(k) for k in ("TF_ENABLE_ONEDNN_OPTS", "OMP_NUM_THREADS")},
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def cache_path() -> Path:
    from rnn_recipes.fetch import cache_dir

    return cache_dir() / "autotune.json"


def _read_cache() -> dict:
    try:
        found = json.loads(cache_path().read_text())
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(key: str, entry: dict) -> None:
    from rnn_recipes.fileio import write_json

    cache = _read_cache()
    cache[key] = entry
    try:
        cache_path().parent.mkdir(parents=True, exist_ok=True)
        write_json(cache_path(), cache)
    except OSError:  # a read-only home: the run goes on, the next one times again
        pass


def with_jit(cfg: Config, rt: Runtime, jit: bool) -> Runtime:
    """`rt` with XLA on or off, and the cuDNN argument and op determinism that go with it."""
    from rnn_recipes.runtime import Machine, decide_cudnn

    cudnn, cudnn_reason, use_cudnn = decide_cudnn(cfg, Machine(rt.backend, rt.gpu), jit)
    return dataclasses.replace(rt, jit=jit, cudnn=cudnn, cudnn_reason=cudnn_reason, use_cudnn=use_cudnn,
                               deterministic_ops=not jit)


def _set_determinism(on: bool) -> None:
    import tensorflow as tf

    from rnn_recipes import compat

    if on:
        tf.config.experimental.enable_op_determinism()
    else:
        compat.disable_op_determinism()


def time_paths(cfg: Config, spec, x: np.ndarray, y: np.ndarray, candidates: dict[str, Runtime],
               steps: int = STEPS) -> dict[str, list[float]]:
    """Seconds per train step of each candidate runtime, on throwaway models, interleaved.

    Each candidate gets its own model built from `cfg` and compiled as its
    record says; one warm-up step (the trace and compile) is not counted.
    """
    import tensorflow as tf

    from rnn_recipes.model import build_model, compile_model

    xb, yb = tf.nest.map_structure(tf.constant, x), tf.constant(y)  # x: an array, or a seq2seq tuple
    models, slow = {}, False
    for name, rt in candidates.items():
        _set_determinism(rt.deterministic_ops)
        models[name] = compile_model(build_model(cfg, spec, rt), cfg, spec, rt)
        models[name].train_on_batch(xb, yb)  # trace + compile
        start = time.perf_counter()
        models[name].train_on_batch(xb, yb)
        slow = slow or time.perf_counter() - start > SLOW_STEP_S
    steps = min(steps, 2) if slow else steps
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(steps):
        for name, rt in candidates.items():
            _set_determinism(rt.deterministic_ops)
            start = time.perf_counter()
            models[name].train_on_batch(xb, yb)
            times[name].append(time.perf_counter() - start)
    return times


def decide(times: dict[str, list[float]]) -> str:
    """The candidate with the fastest step: other programs' load only ever adds time, so the minimum is its best estimate."""
    return min(times, key=lambda name: min(times[name]))


def _reason(entry: dict, cached: bool) -> str:
    other = "without" if entry["winner"] == "off" else "with it"
    steps = "+".join(str(len(t)) for t in entry["times"].values())
    return f"measured: {entry['ratio']:.2f}x faster {other}, {steps} steps" + (", cached" if cached else "")


def settle(cfg: Config, ds, rt: Runtime, *, use_cache: bool = True, log=None) -> Runtime:
    """The run's record with `jit_compile: auto` settled by timing, where the rules leave it open.

    Returns `rt` unchanged unless the static rules turned XLA on by themselves
    (`jit_source` "auto", `jit` True) and the run is at least `MIN_GFLOP` of
    work; otherwise times both paths (or reads the cached timing) and returns
    the record of the faster one, `jit_source` "measured".
    """
    if rt.jit_source != "auto" or rt.jit is not True or rt.backend != "tensorflow" or rows(ds.x_train) == 0:
        return rt
    if training_gflop(cfg, ds.x_train, input_dim(cfg, ds.spec.vocab_size)) < MIN_GFLOP:
        return rt  # the static rule's record, as before
    batch = min(cfg.train.batch_size, rows(ds.x_train))
    x, y = take(ds.x_train, slice(0, batch)), ds.y_train[:batch]
    shape = tuple(d for a in x for d in a.shape) if isinstance(x, tuple) else x.shape
    key = signature(cfg, shape)
    entry = _read_cache().get(key) if use_cache else None
    cached = entry is not None
    if not cached:
        candidates = {"on": with_jit(cfg, rt, True), "off": with_jit(cfg, rt, False)}
        if log:
            log("runtime: timing XLA on and off on a few train steps (cached for reruns)")
        start = time.perf_counter()
        times = time_paths(cfg, ds.spec, x, y, candidates)
        winner = decide(times)
        best = {k: min(v) for k, v in times.items()}
        loser = "off" if winner == "on" else "on"
        entry = {"winner": winner, "ratio": best[loser] / best[winner], "times": times,
                 "seconds": time.perf_counter() - start, "batch_shape": list(shape),
                 "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if use_cache:
            _write_cache(key, entry)
    chosen = with_jit(cfg, rt, entry["winner"] == "on")
    return dataclasses.replace(chosen, jit_source="measured", jit_reason=_reason(entry, cached),
                               jit_measured={**entry, "cached": cached, "key": key})
