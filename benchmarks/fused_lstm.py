"""An LSTM with the input projection of all steps in one matmul and a hand-written backward pass, against Keras' LSTM.

    python -m benchmarks.fused_lstm [--batch 32] [--steps 100] [--repeats 3]

PyTorch's `nn.LSTM` and cuDNN compute x_t @ W for every step up front, and
in the backward pass form the weight gradients as two large matmuls over all
steps, leaving only h @ U and dz @ U^T inside the loop. `FusedLSTM` does the
same in TensorFlow: a subclass of `keras.layers.LSTM` (same weights, same
parameter count) whose loop is a `tf.while_loop` with a `tf.custom_gradient`.
It answers whether this, rather than Keras' loop, would lift the project's
LSTM training speed. Printed, side by side in one run:

1. the forward cost per time step, inside one XLA-compiled loop, of the
   recurrent matmul h @ U alone, and of the whole LSTM step fed three ways:
   the same input every step (the floor), x_t @ W computed in the step (what
   Keras does), and a slice of the precomputed x @ W (what FusedLSTM does);
2. training samples/s of `Embedding(10000, 32) -> LSTM(64) -> Dense(1)` with
   Keras' LSTM and with FusedLSTM, XLA on and off, interleaved, best of N.

FusedLSTM covers what this model uses (no mask, no dropout, tanh/sigmoid);
it is a measurement, not a layer the project trains with.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

VOCAB, EMBED, UNITS = 10_000, 32, 64


def lstm_sequence(zx, u, h0, c0):
    """Run an LSTM over time-major input projections; returns (h of every step, last h, last c).

    Args:
        zx: (T, B, 4H) = x_t @ kernel + bias for every step, gates in Keras' order i, f, c, o.
        u: (H, 4H) recurrent kernel, as a tensor.
        h0, c0: (B, H) initial state.
    """
    import tensorflow as tf

    @tf.custom_gradient
    def run(zx, u, h0, c0):
        steps = tf.shape(zx)[0]
        hs = tf.TensorArray(zx.dtype, steps, element_shape=h0.shape)
        cs = tf.TensorArray(zx.dtype, steps, element_shape=h0.shape)
        gates = tf.TensorArray(zx.dtype, steps, element_shape=zx.shape[1:])

        def step(t, h, c, hs, cs, gates):
            i, f, g, o = tf.split(zx[t] + tf.matmul(h, u), 4, axis=-1)
            i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
            c = f * c + i * g
            h = o * tf.tanh(c)
            return t + 1, h, c, hs.write(t, h), cs.write(t, c), gates.write(t, tf.concat([i, f, g, o], -1))

        _, h_last, c_last, hs, cs, gates = tf.while_loop(
            lambda t, *_: t < steps, step, (0, h0, c0, hs, cs, gates))
        hs, cs, gates = hs.stack(), cs.stack(), gates.stack()

        def grad(d_hs, d_h_last, d_c_last):
            c_prev = tf.concat([c0[None], cs[:-1]], 0)
            u_t = tf.transpose(u)
            dzs = tf.TensorArray(zx.dtype, steps, element_shape=zx.shape[1:])

            def back(t, dh_next, dc_next, dzs):
                dh = d_hs[t] + dh_next
                i, f, g, o = tf.split(gates[t], 4, axis=-1)
                tanh_c = tf.tanh(cs[t])
                dc = dc_next + dh * o * (1 - tanh_c * tanh_c)
                dz = tf.concat([dc * g * i * (1 - i), dc * c_prev[t] * f * (1 - f),
                                dc * i * (1 - g * g), dh * tanh_c * o * (1 - o)], -1)
                return t - 1, tf.matmul(dz, u_t), dc * f, dzs.write(t, dz)

            _, dh0, dc0, dzs = tf.while_loop(lambda t, *_: t >= 0, back, (steps - 1, d_h_last, d_c_last, dzs))
            dz = dzs.stack()
            h_prev = tf.concat([h0[None], hs[:-1]], 0)
            # the recurrent kernel's gradient over all steps: one (H, T*B) @ (T*B, 4H) matmul
            du = tf.matmul(tf.reshape(h_prev, (-1, h0.shape[-1])), tf.reshape(dz, (-1, zx.shape[-1])), transpose_a=True)
            return dz, du, dh0, dc0

        return (hs, h_last, c_last), grad

    return run(zx, u, h0, c0)


def fused_lstm_class():
    """`FusedLSTM`: keras.layers.LSTM with its loop replaced by `lstm_sequence` (built lazily: imports Keras)."""
    import keras
    import tensorflow as tf

    class FusedLSTM(keras.layers.LSTM):
        def inner_loop(self, sequences, initial_state, mask, training=False):
            if mask is not None or self.dropout or self.recurrent_dropout:
                raise NotImplementedError("FusedLSTM covers unmasked LSTMs without dropout")
            cell = self.cell
            # the input projection of every step at once: (B, T, D) @ (D, 4H), time-major out
            zx = tf.einsum("btd,dk->tbk", sequences, cell.kernel) + cell.bias
            hs, h_last, c_last = lstm_sequence(zx, tf.identity(cell.recurrent_kernel), *initial_state)
            return h_last, tf.transpose(hs, (1, 0, 2)), [h_last, c_last]

    return FusedLSTM


def _best_seconds(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def step_floor(batch: int, steps: int, repeats: int) -> dict[str, float]:
    """Forward microseconds per time step of four XLA-compiled loops, from the bare matmul up to each LSTM form."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(steps, batch, EMBED)), tf.float32)
    w = tf.constant(rng.normal(size=(EMBED, 4 * UNITS)) * 0.1, tf.float32)
    u = tf.constant(rng.normal(size=(UNITS, 4 * UNITS)) * 0.1, tf.float32)
    zx = tf.einsum("tbd,dk->tbk", x, w)  # the input projection of every step, precomputed
    zx_0 = zx[0]
    h0 = tf.zeros((batch, UNITS))

    def cell(z, c):
        i, f, g, o = tf.split(z, 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        return tf.sigmoid(o) * tf.tanh(c), c

    def loop(step_input):
        @tf.function(jit_compile=True)
        def run():
            def body(t, h, c):
                h, c = cell(step_input(t) + tf.matmul(h, u), c)
                return t + 1, h, c

            return tf.while_loop(lambda t, *_: t < steps, body, (0, h0, h0))[1]

        return run

    @tf.function(jit_compile=True)
    def matmul_only():
        def body(t, h):
            return t + 1, tf.tanh(tf.matmul(h, u)[:, :UNITS])

        return tf.while_loop(lambda t, _: t < steps, body, (0, h0))[1]

    loops = {
        "recurrent matmul h @ U alone": matmul_only,
        "LSTM step, the same input every step (the floor)": loop(lambda t: zx_0),
        "LSTM step computing x_t @ W (Keras' form)": loop(lambda t: tf.matmul(x[t], w)),
        "LSTM step reading precomputed (x @ W)[t] (FusedLSTM's form)": loop(lambda t: zx[t]),
    }
    return {name: _best_seconds(lambda fn=fn: fn().numpy(), repeats * 10) / steps * 1e6 for name, fn in loops.items()}


def training_rates(batch: int, steps: int, repeats: int, samples: int = 2048) -> dict[str, float]:
    """Training samples/s of the lstm-100 model with Keras' LSTM and with FusedLSTM, XLA on and off, interleaved."""
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.integers(3, VOCAB, (samples, steps)).astype("int32")
    y = rng.integers(0, 2, samples).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).prefetch(2)
    fused = fused_lstm_class()

    def model(layer, jit: bool):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((steps,), dtype="int32")
        hidden = layer(UNITS, use_cudnn=False)(keras.layers.Embedding(VOCAB, EMBED)(inputs))
        m = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))
        m.compile("adam", "binary_crossentropy", jit_compile=jit)
        return m

    models = {f"{name}, XLA {'on' if jit else 'off'}": model(layer, jit)
              for jit in (True, False) for name, layer in (("Keras LSTM", keras.layers.LSTM), ("FusedLSTM", fused))}
    for m in models.values():
        m.fit(data, epochs=1, shuffle=False, verbose=0)  # trace and compile
    best = dict.fromkeys(models, float("inf"))
    for _ in range(repeats):
        for name, m in models.items():
            start = time.perf_counter()
            m.fit(data, epochs=1, shuffle=False, verbose=0)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: samples / s for name, s in best.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=2048, help="training examples per timed epoch")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from rnn_recipes.backend import import_keras

    import_keras()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"batch {args.batch}, {args.steps} steps, LSTM({UNITS}) on Embedding({VOCAB}, {EMBED})\n")
    print("| forward, one XLA loop | us per time step |\n|---|---|")
    for name, us in step_floor(args.batch, args.steps, args.repeats).items():
        print(f"| {name} | {us:.1f} |")
    rates = training_rates(args.batch, args.steps, args.repeats, args.samples)
    base = rates["Keras LSTM, XLA on"]
    print(f"\n| training (best of {args.repeats} interleaved epochs) | samples/s | vs Keras LSTM, XLA on |\n|---|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f}x |")
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
