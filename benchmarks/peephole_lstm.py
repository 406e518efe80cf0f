"""TensorFlow's fused BlockLSTM kernel with peepholes against the project's PeepholeLSTM: exactness, then speed.

    python -m benchmarks.peephole_lstm [--batch 64] [--steps 100] [--units 256] [--rounds 3] [--iters 5]

`tf.raw_ops.BlockLSTM(use_peephole=True)` runs the peephole LSTM's whole
sequence in one C++ op, with a registered gradient. `BlockPeepholeLSTM`
below is a Keras layer holding exactly `PeepholeLSTM`'s weights (same names,
shapes and order) that calls it, reordering the gates from Keras' i, f, c, o
to the kernel's i, c, f, o (`forget_bias=0`, `cell_clip=-1`: no clipping).
It would replace the Keras cell only where it is both exact and faster, so
this prints, in one run:

1. exactness: outputs and every gradient of both layers, holding the same
   weights with non-zero peepholes, against the float64 NumPy reference
   (`rnn_recipes.numpy_rnn.peephole_forward` / `peephole_backward`, itself
   held to finite differences by the tests): the largest error relative to
   the largest reference value, per weight;
2. speed: ms per training step of a character LM, Embedding(256, 64) ->
   layer(units, every step) -> Dense(256, softmax), Adam, batch 64 x 100
   steps, with Keras' LSTM and PeepholeLSTM with XLA off and on, and
   BlockPeepholeLSTM (XLA cannot compile the BlockLSTM op), interleaved over
   rounds, the median of each round's mean kept, and the ratios to
   PeepholeLSTM under the runtime's choice.

BlockPeepholeLSTM covers what the measurement needs (no mask, no dropout,
tanh/sigmoid, float32); it is a measurement, not a layer the project trains with.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

VOCAB, EMBED = 256, 64


def block_layer_class():
    """`BlockPeepholeLSTM`, defined once TensorFlow is imported."""
    import tensorflow as tf

    from rnn_recipes.cells import PEEPHOLES, keras

    class BlockPeepholeLSTM(keras.layers.Layer):
        """PeepholeLSTM's weights, run by `tf.raw_ops.BlockLSTM(use_peephole=True)`."""

        def __init__(self, units, return_sequences=False, **kwargs):
            super().__init__(**kwargs)
            self.units, self.return_sequences = units, return_sequences

        def build(self, input_shape):
            u = self.units
            self.kernel = self.add_weight(shape=(input_shape[-1], 4 * u), name="kernel", initializer="glorot_uniform")
            self.recurrent_kernel = self.add_weight(shape=(u, 4 * u), name="recurrent_kernel", initializer="orthogonal")
            self.bias = self.add_weight(shape=(4 * u,), name="bias", initializer="zeros")
            self.peepholes = [self.add_weight(shape=(u,), name=n, initializer="zeros") for n in PEEPHOLES]

        def call(self, x):
            u = self.units
            w = tf.concat([self.kernel, self.recurrent_kernel], axis=0)

            def icfo(t):  # Keras' gate order i, f, c, o -> the kernel's i, c, f, o
                return tf.concat([t[..., :u], t[..., 2 * u : 3 * u], t[..., u : 2 * u], t[..., 3 * u :]], axis=-1)

            x_tm = tf.transpose(x, [1, 0, 2])  # time-major
            zeros = tf.zeros((tf.shape(x)[0], u), x.dtype)
            wci, wcf, wco = self.peepholes
            *_, h = tf.raw_ops.BlockLSTM(
                seq_len_max=tf.cast(tf.shape(x)[1], tf.int64), x=x_tm, cs_prev=zeros, h_prev=zeros, w=icfo(w),
                wci=wci, wcf=wcf, wco=wco, b=icfo(self.bias), forget_bias=0.0, cell_clip=-1.0, use_peephole=True,
            )
            return tf.transpose(h, [1, 0, 2]) if self.return_sequences else h[-1]

    return BlockPeepholeLSTM


# --- 1. exactness -----------------------------------------------------------------


def exactness(units: int = 16, steps: int = 30, batch: int = 8, n_in: int = 5, seed: int = 0) -> dict[str, dict[str, float]]:
    """The largest error of each layer's output and gradients against the float64 NumPy reference, relative to its scale."""
    import tensorflow as tf

    from rnn_recipes import numpy_rnn as nr
    from rnn_recipes.cells import PeepholeLSTM, keras

    rng = np.random.default_rng(seed)
    params = nr.peephole_init_params(rng, n_in, units, 1)
    params["bias"] = rng.normal(0, 0.3, 4 * units)
    for k in ("peep_i", "peep_f", "peep_o"):
        params[k] = rng.normal(0, 0.5, units)
    x = rng.normal(0, 1, (batch, steps, n_in))
    y = rng.normal(0, 1, (batch, 1))
    pred, cache = nr.peephole_forward(params, x)
    _, d_out = nr.mse(pred, y)
    ref_grads, ref_dx = nr.peephole_backward(params, x, cache, d_out)
    reference = {"output": pred, **{k: ref_grads[k] for k in nr.PEEPHOLE_ORDER}, "input": ref_dx}

    results = {}
    for label, layer in (("PeepholeLSTM", PeepholeLSTM(units)), ("BlockLSTM", block_layer_class()(units))):
        inputs = keras.Input((steps, n_in))
        model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
        model.set_weights([params[k].astype("float32") for k in nr.PEEPHOLE_ORDER])
        xt = tf.constant(x, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = model(xt)
            loss = tf.reduce_mean((out - y.astype("float32")) ** 2)
        grads = tape.gradient(loss, [*model.trainable_weights, xt])
        got = {"output": out.numpy(), **{k: g.numpy() for k, g in zip(nr.PEEPHOLE_ORDER, grads)}, "input": grads[-1].numpy()}
        results[label] = {k: float(np.abs(got[k] - ref).max() / np.abs(ref).max()) for k, ref in reference.items()}
    return results


# --- 2. speed -----------------------------------------------------------------------


def char_lm(kind: str, units: int, steps: int, jit: bool):
    """The char LM with `kind` ("lstm", "peephole", "block") as its recurrent layer, compiled."""
    from rnn_recipes.cells import PeepholeLSTM, keras

    layer = {
        "lstm": lambda: keras.layers.LSTM(units, return_sequences=True, use_cudnn=False if jit else "auto"),
        "peephole": lambda: PeepholeLSTM(units, return_sequences=True),
        "block": lambda: block_layer_class()(units, return_sequences=True),
    }[kind]()
    inputs = keras.Input((steps,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, EMBED)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(VOCAB, activation="softmax")(layer(x)))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
    return model


def speed(batch: int, steps: int, units: int, rounds: int, iters: int) -> dict[str, float]:
    """Median over rounds of the mean ms per training step, each variant timed once per round in turn."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, (batch, steps)).astype("int32")
    y = rng.integers(0, VOCAB, (batch, steps)).astype("int32")
    variants = {
        "Keras LSTM, XLA off": ("lstm", False),
        "Keras LSTM, XLA on": ("lstm", True),
        "PeepholeLSTM, XLA off": ("peephole", False),
        "PeepholeLSTM, XLA on": ("peephole", True),
        "BlockLSTM peephole, XLA off": ("block", False),
    }
    models = {}
    for name, (kind, jit) in variants.items():
        models[name] = char_lm(kind, units, steps, jit)
        for _ in range(2):  # trace / compile, then one warm step
            models[name].train_on_batch(x, y)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(iters):
                model.train_on_batch(x, y)
            times[name].append((time.perf_counter() - start) / iters * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--skip-speed", action="store_true", help="only the exactness table")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from rnn_recipes.backend import import_keras

    keras = import_keras()
    import tensorflow as tf

    gpu = tf.config.list_physical_devices("GPU")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python {platform.python_version()}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, GPU: {bool(gpu)}, "
          f"load average at start {os.getloadavg()[0]:.1f}")
    print("\n1. exactness against the float64 NumPy reference (largest |error| / largest |reference|):\n")
    errors = exactness()
    names = list(next(iter(errors.values())))
    print("| layer | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, row in errors.items():
        print(f"| {label} | " + " | ".join(f"{row[n]:.1e}" for n in names) + " |")
    exact = {label: max(row.values()) < 1e-4 for label, row in errors.items()}  # float32 rounding over 30 steps
    print("\nexact (every error below 1e-4): " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in exact.items()))
    if args.skip_speed:
        return
    print(f"\n2. ms per training step, char LM: Embedding({VOCAB}, {EMBED}) -> layer({args.units}) -> Dense({VOCAB}), "
          f"batch {args.batch} x {args.steps} steps, median of {args.rounds} rounds of {args.iters} steps:\n")
    ms = speed(args.batch, args.steps, args.units, args.rounds, args.iters)
    base = "PeepholeLSTM, XLA on" if not gpu else "PeepholeLSTM, XLA off"
    print(f"| layer | ms per step | against {base} |")
    print("|---|---|---|")
    for name, value in ms.items():
        print(f"| {name} | {value:.1f} | {value / ms[base]:.2f}x |")
    block = ms["BlockLSTM peephole, XLA off"]
    fastest_keras = min(ms["PeepholeLSTM, XLA off"], ms["PeepholeLSTM, XLA on"])
    faster = block < fastest_keras
    print(f"\nBlockLSTM is {'faster' if faster else 'not faster'} than the fastest PeepholeLSTM path "
          f"({block:.1f} against {fastest_keras:.1f} ms); {'exact' if exact['BlockLSTM'] else 'NOT exact'}: "
          f"{'use it' if faster and exact['BlockLSTM'] else 'keep the Keras cell'}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
