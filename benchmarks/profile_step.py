"""Where an LSTM training step's time goes on a CPU: per-time-step cost against the matmul work it holds.

    python -m benchmarks.profile_step [--batches 32,128] [--steps 25,50,100,200]
    python -m benchmarks.profile_step --matmul-dtypes float32,bfloat16,float16

For the project's model `Embedding(10000, 32) -> LSTM(64) -> Dense(1)`
(XLA-compiled, as `rnn train` runs it on a CPU), times one epoch of training
at several sequence lengths and fits time per batch = fixed + T x per_step.
It then compares per_step with the time its matmuls would take at (a) the
1024x1024 float32 matmul rate and (b) the rate of a matmul of the step's own
small shape (batch x 96 by 96 x 256), both measured here. The gap between
per_step and (b) is loop and element-wise overhead; between (b) and (a), the
small matmuls' own inefficiency.

--matmul-dtypes only times those two matmul shapes in each dtype, with and
without XLA: what 16-bit arithmetic itself is worth on this CPU (see
docs/precision.md).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

EMBED, UNITS, VOCAB = 32, 64, 10_000


def matmul_gflops(m: int, k: int, n: int, seconds: float = 0.5, dtype: str = "float32", jit: bool = True) -> float:
    """Best rate of an (m, k) @ (k, n) matmul in a compiled TensorFlow loop, GFLOP/s."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal((m, k)), dtype)
    b = tf.cast(tf.random.normal((k, n)), dtype)
    tiny = tf.constant(1e-30, dtype)
    reps = max(1, int(2e9 / (2 * m * k * n)))  # ~2 GFLOP per call, so call overhead does not count

    @tf.function(jit_compile=jit)
    def loop(a, b):
        def body(i, acc):
            return i + 1, acc + tf.matmul(a + acc[0, 0] * tiny, b)  # a data dependence keeps every matmul

        return tf.while_loop(lambda i, _: i < reps, body, (0, tf.zeros((m, n), dtype)))[1]

    loop(a, b)
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end or best == float("inf"):
        start = time.perf_counter()
        loop(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * m * k * n * reps / best / 1e9


def step_seconds(batch: int, steps: int, batches: int = 16, repeats: int = 3) -> float:
    """Seconds per training batch of the project's LSTM model on `steps`-long rows."""
    from rnn_recipes.config import Config
    from rnn_recipes.data import DataSpec
    from rnn_recipes.model import build_model, compile_model
    from rnn_recipes.pipeline import epochs_dataset

    cfg = Config.model_validate({
        "data": {"kind": "imdb", "maxlen": steps},
        "encoding": {"kind": "embedding", "dim": EMBED},
        "model": {"cell": "lstm", "units": UNITS},
        "train": {"batch_size": batch},
    })
    spec = DataSpec("binary", steps, vocab_size=VOCAB)
    model = compile_model(build_model(cfg, spec), cfg, spec)
    rng = np.random.default_rng(0)
    x = rng.integers(3, VOCAB, (batch * batches, steps)).astype("int32")
    y = rng.integers(0, 2, batch * batches).astype("float32")
    ds = epochs_dataset(x, y, cfg, 0, 1)  # one epoch, timed again on every fit
    model.fit(ds, epochs=1, shuffle=False, verbose=0)  # compile
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(ds, epochs=1, shuffle=False, verbose=0)
        best = min(best, time.perf_counter() - start)
    return best / batches


def matmul_dtypes(dtypes: list[str]) -> None:
    """GFLOP/s of the 1024^3 matmul and the batch-32 LSTM step's matmul in each dtype, with and without XLA."""
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| matmul | XLA | " + " | ".join(dtypes) + " |\n|---|---|" + "---|" * len(dtypes))
    for shape in [(1024, 1024, 1024), (32, EMBED + UNITS, 4 * UNITS)]:
        for jit in (True, False):
            rates = [matmul_gflops(*shape, seconds=1.0, dtype=d, jit=jit) for d in dtypes]
            print(f"| {' x '.join(map(str, shape))} | {'on' if jit else 'off'} | " + " | ".join(f"{r:.0f}" for r in rates) + " |",
                  flush=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="32,128")
    parser.add_argument("--steps", default="25,50,100,200")
    parser.add_argument("--matmul-dtypes", help="only time the matmuls in these dtypes, e.g. float32,bfloat16,float16")
    args = parser.parse_args()
    from rnn_recipes.backend import import_keras

    import_keras()
    if args.matmul_dtypes:
        return matmul_dtypes(args.matmul_dtypes.split(","))
    steps = [int(s) for s in args.steps.split(",")]
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    peak = matmul_gflops(1024, 1024, 1024)
    print(f"float32 matmul 1024x1024x1024 (XLA loop): {peak:.0f} GFLOP/s")
    print("| batch | per time step (fit) | fixed per batch | step's matmuls at 1024^3 rate | at their own shape's rate | "
          "own-shape rate | loop and element-wise overhead |\n|---|---|---|---|---|---|---|")
    for batch in (int(b) for b in args.batches.split(",")):
        times = [step_seconds(batch, t) for t in steps]
        per_step, fixed = np.polyfit(steps, times, 1)
        # forward: x_t and h_{t-1} (96 values) times the 96 x 256 gate kernel; training: ~3x that
        flop = 3 * 2 * batch * (EMBED + UNITS) * 4 * UNITS
        small = matmul_gflops(batch, EMBED + UNITS, 4 * UNITS)
        at_peak, at_small = flop / peak / 1e9, flop / small / 1e9
        print(f"| {batch} | {per_step * 1e6:.0f} us | {fixed * 1e3:.1f} ms | {at_peak * 1e6:.1f} us "
              f"| {at_small * 1e6:.1f} us | {small:.0f} GFLOP/s | {100 * (1 - at_small / per_step):.0f}% |", flush=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
