"""Training throughput on one device, on mirrored logical CPU devices, and on two workers over loopback.

    python -m benchmarks.distribute [--units 64] [--batch 64 256] [--epochs 4] [--rounds 3]

Every setting trains the same LSTM on the same sine windows through the
code `rnn train` uses (distribute.setup, the strategy scope, fit_data), each
in a fresh process (devices are fixed when TensorFlow starts), one after the
other, for several interleaved rounds. The first epoch (tracing) is left
out; the table gives each setting's best round (its median epoch) in
training examples per second, and its ratio to one device.
On a CPU-only machine logical devices share the same cores: the ratio shows
the cost of replication and all-reduce, not a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from importlib import metadata

SETTINGS = {  # name -> train section overrides
    "one device (none)": {"distribute": "none"},
    "mirrored, 1 CPU device": {"distribute": "mirrored", "devices": ["/cpu:0"]},
    "mirrored, 2 logical CPUs": {"distribute": "mirrored", "devices": ["/cpu:0", "/cpu:1"]},
    "2 workers, loopback": {"distribute": "multi_worker"},
}


def config(units: int, batch: int, epochs: int, train: dict):
    from rnn_recipes.config import Config

    return Config.model_validate({
        "name": "bench",
        "data": {"kind": "sine", "total_size": 4097, "time_steps": 50, "val_split": 0.0},
        "model": {"cell": "lstm", "units": units},
        "train": {"batch_size": batch, "epochs": epochs, **train},
    })


def measure(units: int, batch: int, epochs: int, train: dict) -> dict:
    """In this process: train once, return the examples/s of each epoch after the first."""
    from rnn_recipes import distribute
    from rnn_recipes.data import load_dataset

    cfg = config(units, batch, epochs, train)
    plan = distribute.setup(cfg, out="bench-unused" if train["distribute"] == "multi_worker" else None)
    from rnn_recipes.backend import import_keras
    from rnn_recipes.model import build_model, compile_model

    keras = import_keras()
    ds = load_dataset(cfg)
    keras.utils.set_random_seed(cfg.seed)
    with plan.scope():
        model = compile_model(build_model(cfg, ds.spec), cfg, ds.spec)
    if plan.distributed:
        data = distribute.fit_data(plan, ds, cfg)
    else:  # what `rnn train` feeds one device
        from rnn_recipes.pipeline import epochs_dataset, steps_per_epoch

        data = {"x": epochs_dataset(ds.x_train, ds.y_train, cfg), "steps_per_epoch": steps_per_epoch(ds.x_train, cfg),
                "shuffle": False}

    from rnn_recipes.train import EpochTimer

    seconds = model.fit(**data, epochs=epochs, callbacks=[EpochTimer()], verbose=0).history["seconds"]
    return {"examples": len(ds.x_train), "rates": [len(ds.x_train) / t for t in seconds[1:]]}


def run_setting(name: str, units: int, batch: int, epochs: int) -> dict:
    train = SETTINGS[name]
    cmd = [sys.executable, "-m", "benchmarks.distribute", "--measure", json.dumps([units, batch, epochs, train])]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if train["distribute"] != "multi_worker":
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])
    from rnn_recipes.distribute import loopback_tf_configs

    workers = [
        subprocess.Popen(cmd, env={**env, "TF_CONFIG": tf_config}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for tf_config in loopback_tf_configs(2)
    ]
    outs = [w.communicate() for w in workers]
    if any(w.returncode for w in workers):
        raise SystemExit(f"{name} failed:\n{outs[0][1][-2000:]}\n{outs[1][1][-2000:]}")
    return json.loads(outs[0][0].strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--epochs", type=int, default=4, help="the first is left out (tracing)")
    parser.add_argument("--rounds", type=int, default=3, help="each setting's best round is reported")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*json.loads(args.measure))))
        return

    print(f"LSTM({args.units}) on sine windows of 50, {args.epochs - 1} timed epochs; {os.cpu_count()} CPU cores, "
          f"Python {platform.python_version()}, TensorFlow {metadata.version('tensorflow')}, Keras {metadata.version('keras')}")
    print("| batch | setting | examples/s (best round) | vs one device |")
    print("|---|---|---|---|")
    for batch in args.batch:
        best = dict.fromkeys(SETTINGS, 0.0)
        for _ in range(args.rounds):  # interleaved, so a busy spell on a shared machine hits every setting
            for name in SETTINGS:
                rate = statistics.median(run_setting(name, args.units, batch, args.epochs)["rates"])
                best[name] = max(best[name], rate)
        base = best["one device (none)"]
        for name, rate in best.items():
            print(f"| {batch} | {name} | {rate:,.0f} | {rate / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
