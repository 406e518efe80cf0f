"""`jit_compile: auto` decided by timing: a few train steps of the run's own model, batch and data, each way.

The static rules in `runtime.decide_jit` settle what is not a question of
speed (a GPU's cuDNN kernels, tf.distribute, bfloat16, other backends). On one
CPU device with TensorFlow they only guess: XLA on for one batch shape and
one direction, off for bucketed widths and two directions. The two paths
measured within a few percent of each other on some workloads and 1.5x to 2x
apart on others, either way (docs/benchmarks.md), so `settle` times them:

- Rule for when to time: the run's estimated training work (recurrent and
  input matmuls, forward and backward, over every epoch) is at least
  `MIN_GFLOP`. Timing costs an XLA compile plus a compile without it (2 to 8 s
  here); below the threshold a whole run takes seconds, XLA's compiles are
  most of it, and XLA stays off untimed (the tiny configs trained 1.5x to 5x
  faster without it).
- What is timed: on throwaway models built from the same config, each path's
  first step (trace and compile) and then 4 to 16 train steps per path
  (`timed_rounds`: ~0.5 s of them), interleaved (on, off, on, off, ...), on
  one real training batch; a bucketed run's batch is one of its most common
  width. The run's own model is built
  afterwards from a fresh seed, so the measurement changes neither its
  initial weights nor its optimizer state.
- What is decided: the path whose predicted run is shorter: compiles x its
  compile time + the run's train steps x its fastest step. XLA compiles once
  per batch shape (every bucket width, every partial last batch); without it,
  TensorFlow traces once. So a short run keeps the path that compiles
  faster, and a long one the path that steps faster.
- Cache: the timing is stored in `<cache dir>/autotune.json` (the directory
  `data.cache_dir()` names, `~/.cache/rnn-recipes` by default), keyed by a hash
  of the model, encoding and precision config, the batch shape, the package
  versions and the CPU model; a rerun reads it, times nothing, and decides
  for its own length.

The record says what was chosen and by how much, e.g.
`XLA off (measured: run 1.52x faster without; steps 1.55x, 1 compile of 4.1 s vs 1.2 s; 4+4 steps)`,
with `jit_source` "measured" and the timing in `jit_measured`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

import numpy as np

from rnn_recipes import allocator
from rnn_recipes.config import Config
from rnn_recipes.dataset import rows, take
from rnn_recipes.runtime import Runtime

MIN_GFLOP = 500.0  # ~25 s of training on this 2-core CPU at the ~20 GFLOP/s an LSTM step reaches
STEPS = 4  # timed steps per path at least, after one warm-up step each
MAX_STEPS = 16  # at most: short steps are timed until a path's reach ~TIMED_S
TIMED_S = 0.5  # a path's fastest of 4 steps of ~25 ms read 1.3x slow once (docs/benchmarks.md); of 16, steady
SLOW_STEP_S = 1.0  # when a warm-up step (after the compile) takes longer, time 2 steps per path instead
FORMAT = 3  # the cache entry's layout: first step and steps per path and timed width
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
        "malloc": allocator.state(),  # with freed memory kept, big steps ran up to 1.7x faster
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
    from rnn_recipes.runtime import Machine, decide_cudnn, needs_op_determinism

    cudnn, cudnn_reason, use_cudnn = decide_cudnn(cfg, Machine(rt.backend, rt.gpu), jit)
    return dataclasses.replace(rt, jit=jit, cudnn=cudnn, cudnn_reason=cudnn_reason, use_cudnn=use_cudnn,
                               deterministic_ops=needs_op_determinism(jit, rt.gpu, rt.distribute))


def _set_determinism(on: bool) -> None:
    import tensorflow as tf

    from rnn_recipes import compat

    if on:
        tf.config.experimental.enable_op_determinism()
    else:
        compat.disable_op_determinism()


def is_open(rt: Runtime) -> bool:
    """Whether the static rule only guessed: TensorFlow on one CPU device, not bfloat16 (a question timing answers)."""
    return (rt.jit_source == "auto" and rt.backend == "tensorflow" and not rt.gpu and rt.distribute == "none"
            and rt.precision != "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the run's training stream holds, as far as the choice goes.

    A bucketed run is timed at two widths, its most common and its widest,
    because a step's time grows with the width at a rate of each path's own
    (without XLA, every time step of the loop costs more); a run of one width
    is timed at that width.
    """

    epochs: int
    batches: int  # train steps per epoch
    shapes: int  # distinct batch shapes in an epoch: XLA compiles once for each
    width_sum: int  # the bucket widths of an epoch's batches, summed (0 without bucketing)
    probes: tuple[tuple[np.ndarray, int | None], ...]  # (indices, bucket width or None) of each batch timed

    @property
    def steps(self) -> int:
        return self.epochs * self.batches


def plan(cfg: Config, x) -> Plan:
    """The run's batches as `pipeline` draws them for epoch 0 (every epoch has the same shapes)."""
    from rnn_recipes import pipeline

    t = cfg.train
    if pipeline.use_bucketing(cfg):
        widths = pipeline.bucket_widths(x.shape[1])
        found = pipeline.bucket_batches(pipeline.token_lengths(x), t.batch_size, widths, cfg.seed, 0, t.shuffle)
    else:
        order = pipeline.epoch_order(rows(x), cfg.seed, 0, t.shuffle)
        found = [(idx, None) for idx in pipeline.batches(order, t.batch_size)]
    shapes = Counter((len(idx), width) for idx, width in found)
    common = max(shapes, key=lambda shape: (shapes[shape], shape[0]))
    widest = max(shapes, key=lambda shape: (shape[0] == common[0], shape[1] or 0))  # the widest batch of full rows
    probes = tuple((np.sort(idx), width) for shape in dict.fromkeys([common, widest])
                   for idx, width in [next((i, w) for i, w in found if (len(i), w) == shape)])
    return Plan(t.epochs, len(found), len(shapes), sum(w or 0 for _, w in found), probes)


def timed_rounds(warm_s: float, least: int = STEPS) -> int:
    """How many steps each path is timed for, given the slowest warm-up step: ~`TIMED_S` of them, `least` to `MAX_STEPS`.

    The fastest of a few steps is the estimate of a step (`predicted_seconds`);
    short steps vary more with the machine's other work, so more are taken.

    Example:
        >>> [timed_rounds(s) for s in (0.025, 0.1, 0.6, 1.5)]
        [16, 5, 4, 2]
    """
    if warm_s > SLOW_STEP_S:
        return min(least, 2)
    return max(least, min(MAX_STEPS, int(TIMED_S / max(warm_s, 1e-3))))


def time_paths(cfg: Config, spec, batches: list, candidates: dict[str, Runtime],
               steps: int = STEPS) -> dict[str, dict]:
    """Each candidate runtime's first step (trace and compile) and train steps on each batch, on throwaway models.

    Each candidate gets its own model built from `cfg` and compiled as its
    record says; after the first steps, the steps are timed interleaved
    (candidate by candidate, batch by batch), `timed_rounds` of them, at least
    `steps`. `batches` holds (x, y) pairs.
    Returns {name: {"first": [seconds per batch], "steps": [[seconds, ...] per batch]}}.
    """
    import tensorflow as tf

    from rnn_recipes.model import build_model, compile_model

    fed = [(tf.nest.map_structure(tf.constant, x), tf.constant(y)) for x, y in batches]  # x: array or seq2seq tuple
    models, times, warm = {}, {}, 0.0
    for name, rt in candidates.items():
        _set_determinism(rt.deterministic_ops)
        models[name] = compile_model(build_model(cfg, spec, rt), cfg, spec, rt)
        times[name] = {"first": [], "steps": [[] for _ in fed]}
        for xb, yb in fed:
            start = time.perf_counter()
            models[name].train_on_batch(xb, yb)  # trace + compile
            times[name]["first"].append(time.perf_counter() - start)
            start = time.perf_counter()
            models[name].train_on_batch(xb, yb)  # warm-up, not counted
            warm = max(warm, time.perf_counter() - start)
    for _ in range(timed_rounds(warm, steps)):
        for name, rt in candidates.items():
            _set_determinism(rt.deterministic_ops)
            for k, (xb, yb) in enumerate(fed):
                start = time.perf_counter()
                models[name].train_on_batch(xb, yb)
                times[name]["steps"][k].append(time.perf_counter() - start)
    return times


def predicted_seconds(timing: dict, compiles: int, p: Plan, widths: list[int]) -> float:
    """A path's run: its compiles, then every step at the path's fastest time for the step's width.

    A compile is a first step's time beyond a step. With two widths timed, a
    step's time is a line through the two fastest steps, summed over the
    epoch's widths; with one, every step takes the fastest step's time. Other
    programs' load only ever adds time, so the fastest step is the best
    estimate of a step.
    """
    fastest = [min(s) for s in timing["steps"]]
    compile_s = float(np.mean([max(f - s, 0.0) for f, s in zip(timing["first"], fastest)]))
    if len(fastest) == 1 or widths[0] == widths[-1]:
        epoch = p.batches * fastest[0]
    else:
        slope = (fastest[-1] - fastest[0]) / (widths[-1] - widths[0])
        epoch = p.batches * (fastest[0] - slope * widths[0]) + slope * p.width_sum
    return compiles * compile_s + p.epochs * max(epoch, 0.0)


def decide(times: dict[str, dict], p: Plan, widths: list[int]) -> dict[str, float]:
    """Each path's predicted seconds for the run: XLA ("on") compiles once per batch shape, "off" traces once."""
    return {name: predicted_seconds(t, p.shapes if name == "on" else 1, p, widths) for name, t in times.items()}


def _reason(entry: dict, predicted: dict[str, float], p: Plan, cached: bool) -> str:
    winner = min(predicted, key=predicted.get)
    loser = "off" if winner == "on" else "on"
    on, off = entry["times"]["on"], entry["times"]["off"]
    compile_on, compile_off = (np.mean([f - min(s) for f, s in zip(t["first"], t["steps"])]) for t in (on, off))
    widths = entry["widths"]
    steps = ", ".join(f"{min(a) * 1e3:.0f} vs {min(b) * 1e3:.0f} ms" + (f" at width {w}" if len(widths) > 1 else "")
                      for a, b, w in zip(on["steps"], off["steps"], widths))
    timed = "+".join(str(sum(map(len, t["steps"]))) for t in entry["times"].values())
    return (f"measured: {predicted[loser] / predicted[winner]:.2f}x faster {'without' if winner == 'off' else 'with it'} "
            f"over the run's {p.steps:,} steps (a step {steps}; "
            f"{p.shapes} XLA compile{'s' if p.shapes > 1 else ''} of {compile_on:.1f} s vs {compile_off:.1f} s); "
            f"{timed} steps" + (", cached" if cached else ""))


def settle(cfg: Config, ds, rt: Runtime, *, use_cache: bool = True, log=None) -> Runtime:
    """The run's record with `jit_compile: auto` settled by timing, where the rules only guessed.

    Returns `rt` unchanged unless the choice is open (`is_open`: the static
    rule decided, TensorFlow, one CPU device). A run under `MIN_GFLOP` of
    work is not timed: it takes XLA off, since the compiles it would pay
    (training, validation and prediction, each per batch shape) cost more
    than a few seconds of faster steps save (docs/benchmarks.md: the tiny
    configs trained 1.5x to 5x faster without). Otherwise times both paths
    (or reads the cached timing) and returns the record of the one whose run
    is predicted shorter, `jit_source` "measured".
    """
    if not is_open(rt) or rows(ds.x_train) == 0:
        return rt
    gflop = training_gflop(cfg, ds.x_train, input_dim(cfg, ds.spec.vocab_size))
    if gflop < MIN_GFLOP:
        if rt.jit is not True:
            return rt
        reason = f"auto: a short run ({gflop:.3g} GFLOP of training): XLA's compiles would cost more than they save"
        return dataclasses.replace(with_jit(cfg, rt, False), jit_reason=reason)
    p = plan(cfg, ds.x_train)
    spec, batches, widths = ds.spec, [], []
    for idx, width in p.probes:
        x = take(ds.x_train, idx)
        if width is not None:  # a bucketed run's model reads batches of any width, as fit's stream traces it
            from rnn_recipes.pipeline import trim

            x, spec = trim(x, width, cfg.data.padding), dataclasses.replace(spec, seq_len=None)
        batches.append((x, ds.y_train[idx]))
        widths.append(width or 0)
    shapes = [tuple(d for a in x for d in a.shape) if isinstance(x, tuple) else x.shape for x, _ in batches]
    key = signature(cfg, shapes[0] if len(shapes) == 1 else tuple(shapes))
    entry = _read_cache().get(key) if use_cache else None
    cached = entry is not None and FORMAT == entry.get("format")
    if not cached:
        candidates = {"on": with_jit(cfg, rt, True), "off": with_jit(cfg, rt, False)}
        if log:
            log("runtime: timing XLA on and off on a few train steps (cached for reruns)")
        start = time.perf_counter()
        times = time_paths(cfg, spec, batches, candidates)
        entry = {"format": FORMAT, "times": times, "widths": widths, "seconds": time.perf_counter() - start,
                 "batch_shapes": [list(s) for s in shapes],
                 "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if use_cache:
            _write_cache(key, entry)
    predicted = decide(entry["times"], p, entry["widths"])
    winner = min(predicted, key=predicted.get)
    loser = "off" if winner == "on" else "on"
    chosen = with_jit(cfg, rt, winner == "on")
    measured = {**entry, "winner": winner, "ratio": predicted[loser] / predicted[winner], "predicted_s": predicted,
                "steps": p.steps, "shapes": p.shapes, "cached": cached, "key": key}
    return dataclasses.replace(chosen, jit_source="measured", jit_reason=_reason(entry, predicted, p, cached),
                               jit_measured=measured)
