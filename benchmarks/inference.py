"""Inference throughput: `rnn evaluate` on 10,000 test reviews against calling `model.predict` on them directly.

    python -m benchmarks.inference [--examples 10000] [--repeats 3]

Trains one small run (a synthetic imdb.npz, Embedding -> LSTM(64), maxlen 200,
masked, one epoch), then times, interleaved in this process, best of N:

- evaluate: `evaluate_run(run)`, what `rnn evaluate` calls: load the model and
  the data, compute the test metrics;
- direct: load the model the same way, then `model.predict(x_test)` with
  Keras' default batch size;
- direct_batch: the same `predict` at the batch size `evaluate` uses.

and, once each, the whole command `rnn evaluate RUN` in a fresh process
against a fresh process that imports Keras, loads the model and calls
`predict` (what a user would write instead). Target: evaluate within 1.2x of direct.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.training import write_imdb_npz

DIRECT_SCRIPT = """
import sys, time
start = time.perf_counter()
from rnn_recipes.backend import import_keras
keras = import_keras()
from rnn_recipes.data import load_dataset
from rnn_recipes.runs import load_run
run = load_run(sys.argv[1])
model = run.load_model()
ds = load_dataset(run.config)
model.predict(ds.x_test, verbose=0)
"""


def best(fn, repeats: int) -> float:
    out = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from rnn_recipes.config_load import load_config
    from rnn_recipes.data import load_dataset
    from rnn_recipes.evaluate import evaluate_run
    from rnn_recipes.metrics import inference_batch
    from rnn_recipes.runs import load_run
    from rnn_recipes.train import train

    print(f"load average at start: {open('/proc/loadavg').read().split()[:3]}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_imdb_npz(tmp / "imdb.npz", n=args.examples)
        (tmp / "cfg.yaml").write_text(
            "seed: 1\n"
            f"data: {{kind: imdb, path: {tmp / 'imdb.npz'}, num_words: 10000, maxlen: 200, padding: pre}}\n"
            "encoding: {kind: embedding, dim: 32, mask_zero: true}\n"
            "model: {cell: lstm, units: 64}\n"
            "train: {epochs: 1, batch_size: 32}\noutput: {plots: false}\n")
        cfg = load_config(tmp / "cfg.yaml")
        run_dir = train(cfg, tmp / "run", verbose=0)
        run = load_run(run_dir)
        batch = inference_batch(cfg.train.batch_size)

        def direct(batch_size=None):
            model = run.load_model()
            x = load_dataset(run.config).x_test
            return model.predict(x, batch_size=batch_size, verbose=0)

        evaluate_run(run_dir), direct()  # warm: first traces
        times = {"evaluate": [], "direct": [], "direct_batch": []}
        for _ in range(args.repeats):
            times["evaluate"].append(best(lambda: evaluate_run(run_dir), 1))
            times["direct"].append(best(direct, 1))
            times["direct_batch"].append(best(lambda: direct(batch), 1))
        load = open("/proc/loadavg").read().split()[:3]
        b = {k: min(v) for k, v in times.items()}
        print(f"\n{args.examples:,} test reviews, maxlen 200, LSTM(64); best of {args.repeats} interleaved; load {load}\n")
        print("| in this process | seconds | examples/s | evaluate / this |\n|---|---|---|---|")
        for k, v in b.items():
            print(f"| {k}{f' (batch {batch})' if k == 'direct_batch' else ' (batch 32)' if k == 'direct' else f' (batch {batch})'} "
                  f"| {v:.2f} | {args.examples / v:,.0f} | {b['evaluate'] / v:.2f}x |")
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        rnn = [sys.executable, "-m", "rnn_recipes", "evaluate", str(run_dir)]
        direct_cmd = [sys.executable, "-c", DIRECT_SCRIPT, str(run_dir)]
        walls = {}
        for name, cmd in (("rnn evaluate", rnn), ("python: load + predict", direct_cmd)):
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True, env=env)
            walls[name] = time.perf_counter() - start
        print("\n| fresh process | seconds | rnn evaluate / this |\n|---|---|---|")
        for k, v in walls.items():
            print(f"| {k} | {v:.2f} | {walls['rnn evaluate'] / v:.2f}x |")
        ok = b["evaluate"] / b["direct"] <= 1.2
        print(f"\nevaluate within 1.2x of direct predict: {'yes' if ok else 'no'} ({b['evaluate'] / b['direct']:.2f}x)")
    print(f"load average at end: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
