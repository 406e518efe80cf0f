"""The training-speed matrix: every case on the seed-style script, `rnn train`'s default, each candidate path, PyTorch.

    python -m benchmarks.matrix --quick          # 4 cases
    python -m benchmarks.matrix --core           # 16 cases, one slice through every axis (~40 min on 2 quiet cores;
                                                 # ~75 with --replicas 2 and hoisted, fused and torch)
    python -m benchmarks.matrix                  # the full matrix (hours): cell x units x steps x batch x output, + masked
    python -m benchmarks.matrix --cases lstm-256-100-b64-seq --repeats 5

Cases: cell (SimpleRNN, LSTM, GRU, bidirectional LSTM) x units (64, 256, 512)
x sequence length (100, 500) x batch (32, 128) x many-to-one (an IMDB-like
classifier, Embedding(10000, 32)) / many-to-many (a char LM, Embedding(256, 64)
and Dense(256) at every step), plus masked IMDB-like review lengths (pre-padded,
`mask_zero`, bucketed as `rnn train` does). Case names read
`<cell>-<units>-<steps>-b<batch>-<one|seq|masked>`.

Paths, each in its own process (so environment and thread settings are its
own), timed one epoch at a time in turn so load from other programs hits all
of them alike; each number is the best of `--repeats` epochs:

- seed: the teaching script: Sequential, `fit` on arrays, post padding, no
  mask, at the case's batch;
- default: `rnn train`'s own path with `jit_compile: auto`, as the runtime
  record settles it for a run of `RUN_EPOCHS` of the case's epochs, so long
  that compiles do not weigh (rnn_recipes.autotune: its timing runs in the
  worker, with a fresh cache, before the first epoch);
- xla_on / xla_off: the project's path, `train.jit_compile` true / false;
- hoisted (LSTM without mask or two directions): the input projection of all
  steps in one matmul before the loop, a `tf.while_loop` over it, TensorFlow's
  own gradient, no XLA;
- fused (same cases): the same forward with a hand-written backward pass
  (weight gradients as one matmul over all steps), no XLA;
- threads_2x1 / threads_1x2: the default's choice with
  `tf.config.threading` intra-op 2 / inter-op 1, and intra-op 1 / inter-op 2;
- onednn_off: the default's choice under `TF_ENABLE_ONEDNN_OPTS=0`;
- torch: the same model in PyTorch at the case's batch (when torch is installed).

hoisted and fused report `exact`: the largest relative difference of the loss
and every gradient against Keras' LSTM with the same weights, on one batch; a
candidate could only be used in training where it is faster and exact to 1e-5.

Acceptance per case: the default no more than 5% slower than the best Keras
path (seed, xla_on, xla_off), and not slower than the seed script. The
default's rate there pools its own process's epochs with those of the path it
chose (the same computation; see `acceptance`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from types import SimpleNamespace

import numpy as np

from benchmarks.training import CHAR_EMBED, CHAR_VOCAB, EMBED, VOCAB, installed, machine, review_lengths

WORK_PER_EPOCH = 60e9  # training FLOP per timed epoch: ~1-3 s here, whatever the case's size
KERAS_PATHS = ["seed", "xla_on", "xla_off"]
# the default decides as for a run this long, in the case's epochs: the table compares epochs after the first, so
# compiles must not weigh in the choice either (a real run's length does weigh them: autotune.decide)
RUN_EPOCHS = 1000


@dataclass(frozen=True)
class Case:
    cell: str = "lstm"  # simple_rnn, lstm, gru, bilstm
    units: int = 64
    steps: int = 100
    batch: int = 32
    output: str = "one"  # one: many-to-one classifier; seq: char LM; masked: IMDB-like lengths, mask_zero

    @property
    def name(self) -> str:
        return f"{self.cell}-{self.units}-{self.steps}-b{self.batch}-{self.output}"

    @property
    def base_cell(self) -> str:
        return "lstm" if self.cell == "bilstm" else self.cell

    @property
    def bidirectional(self) -> bool:
        return self.cell == "bilstm"

    @property
    def vocab(self) -> int:
        return CHAR_VOCAB if self.output == "seq" else VOCAB

    @property
    def embed(self) -> int:
        return CHAR_EMBED if self.output == "seq" else EMBED

    def flop_per_sample(self) -> float:
        gates = {"simple_rnn": 1, "gru": 3, "lstm": 4}[self.base_cell]
        dirs = 2 if self.bidirectional else 1
        mean = self.steps if self.output != "masked" else min(self.steps, 175)
        head = 2 * self.units * dirs * (CHAR_VOCAB * self.steps if self.output == "seq" else 1)
        return 3 * (2 * dirs * gates * self.units * (self.embed + self.units) * mean + head)

    @property
    def samples(self) -> int:
        batches = max(4, min(40, round(WORK_PER_EPOCH / (self.flop_per_sample() * self.batch))))
        return batches * self.batch


FULL = [Case(c, u, t, b, o) for c, u, t, b, o in itertools.product(
    ["simple_rnn", "lstm", "gru", "bilstm"], [64, 256, 512], [100, 500], [32, 128], ["one", "seq"])]
FULL += [Case(c, 64, 500, b, "masked") for c in ["simple_rnn", "lstm", "gru", "bilstm"] for b in (32, 128)]
QUICK = [Case("lstm", 256, 100, 64, "seq"),  # the char LM
         Case("lstm", 64, 100, 128, "one"),
         Case("gru", 64, 100, 32, "one"),
         Case("lstm", 64, 500, 32, "masked")]
# a slice through every axis, one run of ~40 min on 2 quiet cores: each cell at a small classifier, a char LM,
# a wide classifier and masked reviews
CORE = [Case(cell, u, t, b, "one" if cell == "bilstm" and o == "seq" else o) for cell in ["simple_rnn", "lstm", "gru", "bilstm"]
        for u, t, b, o in [(64, 100, 32, "one"), (256, 100, 128, "seq"), (512, 100, 128, "one"), (64, 500, 32, "masked")]]
CASES = {c.name: c for c in FULL + QUICK}


def make_data(case: Case) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n, t = case.samples, case.steps
    lengths = np.minimum(review_lengths(n, rng), t) if case.output == "masked" else np.full(n, t)
    tokens = rng.integers(3, case.vocab, (n, t)).astype("int32")
    cols = np.arange(t)
    x_post = np.where(cols[None, :] < lengths[:, None], tokens, 0).astype("int32")
    x_pre = np.where(cols[None, :] >= t - lengths[:, None], tokens, 0).astype("int32")
    y = rng.integers(0, case.vocab, (n, t)).astype("int32") if case.output == "seq" else rng.integers(0, 2, n).astype("float32")
    return {"x_pre": x_pre, "x_post": x_post, "lengths": lengths, "y": y}


def candidate_ok(case: Case, path: str) -> str | None:
    """Why `path` does not apply to `case`, or None."""
    if case.bidirectional and case.output == "seq":
        return "n/a: a bidirectional next-token model sees the tokens it predicts (rnn train refuses it)"
    if path in ("hoisted", "fused") and (case.base_cell != "lstm" or case.bidirectional or case.output == "masked"):
        return "n/a: written for an unmasked one-direction LSTM"
    if path == "torch" and not installed("torch"):
        return "n/a: torch not installed"
    return None


# --- the paths, inside a worker ---------------------------------------------------------------


def _config(case: Case, jit):
    from rnn_recipes.config import Config
    from rnn_recipes.data import DataSpec

    train = {"batch_size": case.batch, "epochs": 1, "jit_compile": jit}
    model = {"cell": case.base_cell, "units": case.units, "bidirectional": case.bidirectional}
    if case.output == "seq":
        data = {"kind": "text", "text": "x", "seq_length": case.steps, "objective": "many_to_many"}
        spec = DataSpec("next_token", case.steps, CHAR_VOCAB, CHAR_VOCAB, sequence_output=True)
        encoding = {"kind": "embedding", "dim": CHAR_EMBED}
    else:
        data = {"kind": "imdb", "maxlen": case.steps, "padding": "pre"}
        spec = DataSpec("binary", case.steps, vocab_size=VOCAB)
        encoding = {"kind": "embedding", "dim": EMBED, "mask_zero": case.output == "masked"}
    return Config.model_validate({"data": data, "encoding": encoding, "model": model, "train": train}), spec


def hoisted_lstm_class(custom_gradient: bool):
    """keras.layers.LSTM with the input projection hoisted out of its loop (same weights), no XLA needed."""
    import keras
    import tensorflow as tf

    from benchmarks.fused_lstm import lstm_sequence

    def autograd_sequence(zx, u, h0, c0):
        steps = tf.shape(zx)[0]
        hs = tf.TensorArray(zx.dtype, steps, element_shape=h0.shape)

        def step(t, h, c, hs):
            i, f, g, o = tf.split(zx[t] + tf.matmul(h, u), 4, axis=-1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            return t + 1, h, c, hs.write(t, h)

        _, h, c, hs = tf.while_loop(lambda t, *_: t < steps, step, (0, h0, c0, hs))
        return hs.stack(), h, c

    run = lstm_sequence if custom_gradient else autograd_sequence

    class HoistedLSTM(keras.layers.LSTM):
        def inner_loop(self, sequences, initial_state, mask, training=False):
            if mask is not None or self.dropout or self.recurrent_dropout or self.go_backwards:
                raise NotImplementedError("unmasked, one direction, no dropout")
            cell = self.cell
            zx = tf.einsum("btd,dk->tbk", sequences, cell.kernel) + cell.bias
            hs, h_last, c_last = run(zx, tf.identity(cell.recurrent_kernel), *initial_state)
            return h_last, tf.transpose(hs, (1, 0, 2)), [h_last, c_last]

    return HoistedLSTM


def exactness(cfg, spec, data, layer_cls) -> float:
    """Largest relative difference (loss and every gradient) of a model whose LSTM is `layer_cls` against Keras' LSTM."""
    import tensorflow as tf

    from rnn_recipes import model as model_mod
    from rnn_recipes.runtime import for_this_machine

    rt = for_this_machine(cfg)
    x, y = data["x_pre"][: cfg.train.batch_size], data["y"][: cfg.train.batch_size]
    y = y if spec.sequence_output else y[:, None]  # one label per example, as the (batch, 1) head outputs
    ref = model_mod.build_model(cfg, spec, rt)
    saved = model_mod.CELLS["lstm"]
    model_mod.CELLS["lstm"] = layer_cls
    try:
        alt = model_mod.build_model(cfg, spec, rt)
    finally:
        model_mod.CELLS["lstm"] = saved
    alt.set_weights(ref.get_weights())
    from rnn_recipes import tasks

    loss_fn = __import__("keras").losses.get(tasks.of(spec).loss)
    worst = 0.0
    grads = []
    for m in (ref, alt):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, m(x, training=True))
            loss = tf.reduce_mean(loss)
        grads.append([loss, *tape.gradient(loss, m.trainable_variables)])
    for a, b in zip(*grads):
        a, b = tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy()
        worst = max(worst, float(np.max(np.abs(a - b)) / (np.max(np.abs(a)) + 1e-12)))
    return worst


def recipes_epoch(case: Case, data: dict, jit, layer=None, settle=False):
    """The project's path: config -> runtime record -> build_model -> compile_model -> pipeline -> fit."""
    from rnn_recipes import autotune
    from rnn_recipes import model as model_mod
    from rnn_recipes.pipeline import epochs_dataset, steps_per_epoch
    from rnn_recipes.runtime import for_training
    from rnn_recipes.train import seed_everything

    cfg, spec = _config(case, jit)
    rt = for_training(cfg)  # as `rnn train` sets up its process (malloc keeps freed memory)
    info = {}
    if settle:  # as `rnn train` settles auto for a run of RUN_EPOCHS of the case's epochs
        ds = SimpleNamespace(x_train=data["x_pre"], y_train=data["y"], spec=spec)
        start = time.perf_counter()
        run = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": RUN_EPOCHS})})
        floor, autotune.MIN_GFLOP = autotune.MIN_GFLOP, 0.0  # timed whatever the case's size
        try:
            rt = autotune.settle(run, ds, rt)
        finally:
            autotune.MIN_GFLOP = floor
        info = {"choice": "xla_on" if rt.jit is True else "xla_off", "reason": rt.jit_reason,
                "tuning_s": time.perf_counter() - start}
    if layer is not None:
        info["exact"] = exactness(cfg, spec, data, layer)
        model_mod.CELLS["lstm"] = layer
    seed_everything(cfg.seed, deterministic_ops=rt.deterministic_ops)
    net = model_mod.compile_model(model_mod.build_model(cfg, spec, rt), cfg, spec, rt)
    ds = epochs_dataset(data["x_pre"], data["y"], cfg, last_epoch=RUN_EPOCHS)  # the stream `rnn train` feeds, epoch after epoch
    steps = steps_per_epoch(data["x_pre"], cfg)
    return continued_fit(net, ds, steps_per_epoch=steps, shuffle=False), info


def timed_fit(model, *args, **kwargs):
    """One epoch of `model.fit(*args, **kwargs)` per call, timed from the epoch's start to its end by a callback.

    Each call is a fresh `fit`, so each epoch opens its data stream anew
    (`benchmarks.stream` compares streams this way); `continued_fit` runs one
    `fit` for all epochs, as `rnn train` does. Not the wall time around `fit`:
    before the project's streams turned tf.data's autotuning off, leaving `fit`
    waited for the autotuner's thread to wake on its doubling schedule (1.28 s,
    2.56 s, 5.12 s, ...: up to twice an epoch's work, in no relation to the path).
    """
    import keras

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    def epoch() -> float:
        clock = Clock()
        model.fit(*args, epochs=1, verbose=0, callbacks=[clock], **kwargs)
        return clock.seconds

    return epoch


class _Stopped(Exception):
    """Ends a `continued_fit` at the start of its next epoch."""


def continued_fit(model, *args, **kwargs):
    """The epochs of one `model.fit(*args, epochs=RUN_EPOCHS, **kwargs)`, one per call, each timed by callbacks.

    `rnn train` calls `fit` once for all its epochs, so its stream runs on from
    one epoch into the next (the next epoch's first batches are drawn while the
    last ones train). A `fit` per epoch would time the stream's start-up in
    every epoch: ~0.1 s, 1.12x, on an epoch of five batches. So the `fit` runs
    in a thread that waits at each epoch's start until the next call; the call
    returns the epoch's seconds, from its start to its end. `epoch.stop()` ends
    the `fit`. Data given as a dataset must hold `RUN_EPOCHS` epochs.
    """
    import queue
    import threading

    import keras

    go, done = queue.Queue(), queue.Queue()

    class Gate(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if not go.get():
                raise _Stopped
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            done.put(time.perf_counter() - self.start)

    def run():
        try:
            model.fit(*args, epochs=RUN_EPOCHS, verbose=0, callbacks=[Gate()], **kwargs)
        except _Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001  (raised again in the caller's thread)
            done.put(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def epoch() -> float:
        go.put(True)
        seconds = done.get()
        if isinstance(seconds, BaseException):
            raise seconds
        return seconds

    def stop() -> None:
        go.put(False)
        thread.join(timeout=60)

    epoch.stop, epoch.thread = stop, thread
    return epoch


def seed_epoch(case: Case, data: dict):
    import keras

    layer = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[case.base_cell]
    rnn = layer(case.units, return_sequences=case.output == "seq")
    if case.bidirectional:
        rnn = keras.layers.Bidirectional(rnn)
    seq = case.output == "seq"
    head = keras.layers.Dense(CHAR_VOCAB, activation="softmax") if seq else keras.layers.Dense(1, activation="sigmoid")
    model = keras.Sequential([keras.Input((case.steps,)), keras.layers.Embedding(case.vocab, case.embed), rnn, head])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy" if seq else "binary_crossentropy",
                  metrics=["accuracy"])
    return continued_fit(model, data["x_post"], data["y"], batch_size=case.batch), {}


def torch_epoch(case: Case, data: dict):
    from benchmarks.training import Case as TrainingCase
    from benchmarks.training import torch_epoch as make

    tc = TrainingCase(case.name, case.base_cell, case.units, case.bidirectional, case.steps,
                      "imdb" if case.output == "masked" else "fixed", case.batch, case.samples, case.output == "seq")
    return make(tc, data), {}


PATHS = {
    "seed": seed_epoch,
    "default": lambda c, d: recipes_epoch(c, d, "auto", settle=True),
    "xla_on": lambda c, d: recipes_epoch(c, d, True),
    "xla_off": lambda c, d: recipes_epoch(c, d, False),
    "hoisted": lambda c, d: recipes_epoch(c, d, False, layer=hoisted_lstm_class(False)),
    "fused": lambda c, d: recipes_epoch(c, d, False, layer=hoisted_lstm_class(True)),
    "threads_2x1": lambda c, d: recipes_epoch(c, d, "auto", settle=True),
    "threads_1x2": lambda c, d: recipes_epoch(c, d, "auto", settle=True),
    "onednn_off": lambda c, d: recipes_epoch(c, d, "auto", settle=True),
    "torch": torch_epoch,
}
THREADS = {"threads_2x1": (2, 1), "threads_1x2": (1, 2)}


def base_path(path: str) -> str:
    """`default#2` is a replica of `default`: the same path in one more process (`--replicas`)."""
    return path.split("#")[0]


def _worker(conn, path: str, case: dict, cache: str) -> None:
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["RNN_RECIPES_CACHE"] = cache  # the default and its variants time afresh, then share the decision
    if base_path(path) == "onednn_off":
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    try:
        c = Case(**case)
        if base_path(path) in THREADS:
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(THREADS[base_path(path)][0])
            tf.config.threading.set_inter_op_parallelism_threads(THREADS[base_path(path)][1])
        import tensorflow  # noqa: F401  (imported by every worker at once; built one at a time)

        if path == "torch":
            import torch  # noqa: F401
        conn.send(("imported", None))
        conn.recv()
        epoch, info = PATHS[base_path(path)](c, make_data(c))
        conn.send(("built", info))
        conn.recv()
        start = time.perf_counter()
        epoch()
        conn.send(("ready", time.perf_counter() - start))  # the first epoch's wall time, compiles included
        while conn.recv() == "epoch":
            start = time.perf_counter()
            seconds = epoch()  # Keras paths time themselves (continued_fit); the PyTorch loop is timed here
            conn.send(("epoch", seconds if seconds is not None else time.perf_counter() - start))
        getattr(epoch, "stop", lambda: None)()
    except Exception as exc:  # noqa: BLE001  (reported as this path's result)
        conn.send(("error", f"{type(exc).__name__}: {str(exc)[:200]}"))


def run_case(case: Case, paths: list[str], repeats: int) -> dict:
    ctx = mp.get_context("spawn")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as cache:
        workers = {}
        for path in paths:
            if reason := candidate_ok(case, path):
                results[path] = {"skipped": reason}
                continue
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, path, asdict(case), cache), daemon=True)
            workers[path] = (proc, parent)
            results[path] = {"epochs": []}
        for proc, _ in workers.values():  # imports run side by side
            proc.start()
        for path, (_, conn) in workers.items():
            kind, value = conn.recv()
            if kind == "error":
                results[path]["error"] = value
        # build one at a time: the default's timing runs in its build, and should run alone
        for path, (proc, conn) in workers.items():
            if "error" in results[path]:
                continue
            conn.send("build")
            kind, value = conn.recv()
            results[path].update(value if kind == "built" else {"error": value})
            if kind == "built":
                conn.send("first")
                kind, value = conn.recv()
                results[path]["first_epoch_s" if kind == "ready" else "error"] = value
        live = [p for p in workers if "error" not in results[p]]
        for _ in range(repeats):
            for path in list(live):
                conn = workers[path][1]
                conn.send("epoch")
                kind, value = conn.recv()
                if kind != "epoch":
                    results[path]["error"] = value
                    live.remove(path)
                    continue
                results[path]["epochs"].append(value)
        for path, (proc, conn) in workers.items():
            if path in live:
                conn.send("stop")
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    for r in results.values():
        if r.get("epochs"):
            r["epoch_s"] = min(r["epochs"])
            r["samples_per_s"] = case.samples / r["epoch_s"]
    return {"case": case.name, "samples": case.samples, "paths": pooled(results), "replicas": results,
            "spread": spread(results), "acceptance": acceptance(pooled(results))}


def pooled(results: dict) -> dict:
    """One entry per path: its replicas' epochs pooled (the best epoch of every process that ran it)."""
    out: dict[str, dict] = {}
    for path, r in results.items():
        base = base_path(path)
        if base not in out or r.get("samples_per_s", 0) > out[base].get("samples_per_s", 0):
            out[base] = {**r, **({"choice": out[base]["choice"]} if "choice" in out.get(base, {}) else {})}
    return out


def spread(results: dict) -> float | None:
    """The widest gap between two processes of one path (fastest over slowest): this run's process-to-process noise."""
    rates: dict[str, list[float]] = {}
    for path, r in results.items():
        if "samples_per_s" in r:
            rates.setdefault(base_path(path), []).append(r["samples_per_s"])
    gaps = [max(v) / min(v) for v in rates.values() if len(v) > 1]
    return max(gaps) if gaps else None


def acceptance(results: dict) -> dict:
    """The default against the best Keras path and the seed script.

    The default runs the computation of the path it chose (xla_on or xla_off):
    its rate is the best epoch of both processes that ran it, pooled, since
    two processes of one computation differ only by noise (up to 1.3x apart
    on this machine's quietest runs).
    """
    rate = {p: r["samples_per_s"] for p, r in results.items() if "samples_per_s" in r}
    if "default" not in rate:
        return {"ok": False, "why": "the default did not run"}
    chose = results["default"].get("choice")
    if chose in rate:
        rate["default"] = max(rate["default"], rate[chose])
    keras_best = max((rate[p] for p in KERAS_PATHS if p in rate), default=rate["default"])
    vs_best = keras_best / rate["default"]  # > 1: the default is slower
    vs_seed = rate["seed"] / rate["default"] if "seed" in rate else None
    ok = vs_best <= 1.05 and (vs_seed is None or vs_seed <= 1.0)
    return {"ok": ok, "best_keras_over_default": vs_best, "seed_over_default": vs_seed, "default_rate": rate["default"]}


def table(results: list[dict], paths: list[str]) -> list[str]:
    head = ("| case | samples | default chose | " + " | ".join(paths)
            + " | default vs best Keras | vs seed | accepted | process spread |")
    rows = [head, "|" + "---|" * (len(paths) + 7)]
    for res in results:
        r = res["paths"]
        base = r.get("default", {}).get("samples_per_s")
        cells = []
        for p in paths:
            x = r.get(p, {})
            if "samples_per_s" in x:
                cell = f"{x['samples_per_s']:,.0f}" + (f" ({x['samples_per_s'] / base:.2f}x)" if base and p != "default" else "")
                if "exact" in x:
                    cell += f", exact {x['exact']:.0e}"
                cells.append(cell)
            else:
                cells.append(x.get("skipped") or ("error: " + x.get("error", "?")))
        acc = res["acceptance"]
        chose = r.get("default", {}).get("choice", "?")
        vb = acc.get("best_keras_over_default")
        vs = acc.get("seed_over_default")
        rows.append(f"| {res['case']} | {res['samples']} | {chose} | " + " | ".join(cells)
                    + f" | {'' if vb is None else f'{1 / vb:.2f}x'} | {'' if vs is None else f'{1 / vs:.2f}x'} | "
                    + ("yes" if acc["ok"] else "**no**") + " | "
                    + ("" if res.get("spread") is None else f"{res['spread']:.2f}x") + " |")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 4-case subset (the default is the full matrix)")
    parser.add_argument("--core", action="store_true", help="the 16-case slice through every axis")
    parser.add_argument("--cases", help="comma-separated case names (see --list)")
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated paths")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per path (best is kept)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="processes per Keras path (seed, default, xla_on, xla_off); their best epoch is kept")
    parser.add_argument("--list", action="store_true", help="print the case names and exit")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(CASES))
        return
    cases = [CASES[n] for n in args.cases.split(",")] if args.cases else (
        QUICK if args.quick else CORE if args.core else FULL)
    paths = args.paths.split(",")
    runs = paths + [f"{p}#{k}" for k in range(2, args.replicas + 1) for p in paths if p in ["default", *KERAS_PATHS]]
    print(f"machine: {json.dumps(machine())}")
    print(f"command: python -m benchmarks.matrix {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"load average at start: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    results = []
    for case in cases:
        res = run_case(case, runs, args.repeats)
        res["loadavg"] = open("/proc/loadavg").read().split()[:3]
        results.append(res)
        print(f"# {case.name}: load {res['loadavg']}, default: {res['paths'].get('default', {}).get('reason', '?')}",
              flush=True)
        print("#", table([res], paths)[-1], flush=True)  # the row now, so a stopped run keeps what it measured
    print(f"load average at end: {open('/proc/loadavg').read().split()[:3]}")
    print("\nsamples/s, best of %d interleaved epochs; (x) = against the default\n" % args.repeats)
    print("\n".join(table(results, paths)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
