"""Training speed: the project's training path against a seed-style Keras script and hand-written PyTorch.

    python -m benchmarks.training --quick      # a few minutes
    python -m benchmarks.training              # every case, and an IMDB-sized run
    python -m benchmarks.training --cases lstm-100,charlm --repeats 5 --jit-off
    python -m benchmarks.training --cases lstm-100 --no-extras --keras-torch   # Keras backends (JAX when installed)
    python -m benchmarks.training --cases lstm-100 --precision mixed_bfloat16,mixed_float16 --jit-off

Each path of a case runs in its own worker process (so its peak RSS is its
own) on the same synthetic data; the parent asks the workers for one epoch at
a time, in turn, so load from other programs hits every path alike. Read the
ratios: they are measured side by side. Paths:

- rnn_recipes: the project's own code path: `build_model`, `compile_model`
  and the `pipeline.epochs_dataset` that `rnn train` feeds to `model.fit`;
- keras_seed: what the teaching material writes: a Sequential model,
  `model.fit(x, y, batch_size=32)` on NumPy arrays, post padding, no mask;
- torch: the same model in PyTorch (`nn.RNN`/`nn.LSTM`/`nn.GRU`), a
  hand-written loop at the same batch size (variable-length batches are
  packed with `pack_padded_sequence`, PyTorch's equivalent of a mask);
- rnn_recipes_jit_off (with --jit-off): the project's path with `train.jit_compile: false`,
  to show what XLA is worth;
- rnn_recipes_jax (when jax is installed): the project's path with Keras' JAX
  backend (KERAS_BACKEND=jax in that worker; Keras jit-compiles the train step);
- rnn_recipes_keras_torch (with --keras-torch): the same with Keras' torch backend.

Every other path runs with KERAS_BACKEND=tensorflow, whatever the caller's shell says.
- rnn_recipes_mixed_bfloat16_xla, rnn_recipes_mixed_bfloat16_jit_off, and the same for
  mixed_float16 (with --precision): the project's path with that `train.precision`,
  `train.jit_compile` true and false.

FLOP utilisation is the model's training FLOPs (3x the forward matmuls, on the
steps that hold tokens) per second, against a float32 matmul peak measured here.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

VOCAB = 10_000  # IMDB's usual num_words
EMBED = 32
CHAR_VOCAB, CHAR_EMBED = 256, 64
CORPUS_WINDOWS = 11_000  # a 1.1 MB corpus cut into windows of 100 characters
GATES = {"simple_rnn": 1, "gru": 3, "lstm": 4}


@dataclass(frozen=True)
class Case:
    """One model and data shape, timed on every path."""

    name: str
    cell: str = "lstm"
    units: int = 64
    bidirectional: bool = False
    steps: int = 100  # maxlen: every row is padded or cut to it
    lengths: str = "fixed"  # fixed: every row is `steps` tokens; imdb: IMDB-like review lengths
    batch: int = 32
    samples: int = 2048  # per timed epoch
    charlm: bool = False  # next-character model: Embedding(256, 64) -> LSTM -> Dense(256) at every step


CASES = [
    Case("simple_rnn-100", "simple_rnn"),
    Case("lstm-100", "lstm"),
    Case("gru-100", "gru"),
    Case("bilstm-100", "lstm", bidirectional=True, samples=1024),
    Case("lstm-100-b128", "lstm", batch=128),
    Case("simple_rnn-500", "simple_rnn", steps=500, samples=512),
    Case("lstm-500", "lstm", steps=500, samples=512),
    Case("gru-500", "gru", steps=500, samples=512),
    Case("bilstm-500", "lstm", bidirectional=True, steps=500, samples=256),
    Case("lstm-100-var", "lstm", lengths="imdb"),
    Case("lstm-500-var", "lstm", steps=500, lengths="imdb", samples=1024),
    Case("charlm", "lstm", units=256, batch=64, samples=1024, charlm=True),
]
QUICK = ["lstm-100", "lstm-500-var", "charlm"]


# --- data and FLOPs --------------------------------------------------------------


def review_lengths(n: int, rng: np.random.Generator) -> np.ndarray:
    """IMDB-like review lengths: log-normal around a median of ~175 tokens, from 5 to 2,500."""
    return np.clip(rng.lognormal(np.log(175), 0.75, n), 5, 2500).astype(int)


def make_data(case: Case) -> dict[str, np.ndarray]:
    """Synthetic ids and targets for `case`, the same in every worker.

    Returns x_pre and x_post (the same rows padded before / after the tokens,
    long rows keeping their ending), lengths (tokens per row) and y.
    """
    rng = np.random.default_rng(0)
    n, t = case.samples, case.steps
    vocab = CHAR_VOCAB if case.charlm else VOCAB
    if case.lengths == "fixed":
        lengths = np.full(n, t)
    else:
        lengths = np.minimum(review_lengths(n, rng), t)
    tokens = rng.integers(3, vocab, (n, t)).astype("int32")  # ids 0-2 are reserved, 0 is padding
    cols = np.arange(t)
    x_post = np.where(cols[None, :] < lengths[:, None], tokens, 0).astype("int32")
    x_pre = np.where(cols[None, :] >= t - lengths[:, None], tokens, 0).astype("int32")
    if case.charlm:
        y = rng.integers(0, vocab, (n, t)).astype("int32")
    else:
        y = rng.integers(0, 2, n).astype("float32")
    return {"x_pre": x_pre, "x_post": x_post, "lengths": lengths, "y": y}


def train_flops_per_sample(case: Case, mean_steps: float) -> float:
    """Training FLOPs of one example: 3x the forward pass's matmuls (forward + two backward products)."""
    dirs = 2 if case.bidirectional else 1
    inp = CHAR_EMBED if case.charlm else EMBED
    recurrent = 2 * (inp + case.units) * GATES[case.cell] * case.units * mean_steps * dirs
    head = 2 * case.units * dirs * (CHAR_VOCAB * mean_steps if case.charlm else 1)
    return 3 * (recurrent + head)


def matmul_peak_gflops(size: int = 1024, repeats: int = 10) -> float:
    """Best float32 matmul rate NumPy reaches here, in GFLOP/s."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size), dtype="float32"), rng.standard_normal((size, size), dtype="float32")
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- the paths, each run inside a worker process -------------------------------------


def _quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def rnn_recipes_epoch(case: Case, data: dict, jit: bool | str, precision: str = "float32"):
    """The project's path: config -> build_model -> compile_model -> pipeline.epochs_dataset -> fit."""
    _quiet_tf()
    from rnn_recipes.config import Config
    from rnn_recipes.data import DataSpec
    from rnn_recipes.model import build_model, compile_model
    from rnn_recipes.pipeline import epochs_dataset, steps_per_epoch
    from rnn_recipes.runtime import for_training
    from rnn_recipes.train import seed_everything

    variable = case.lengths != "fixed"
    train = {"batch_size": case.batch, "epochs": 1, "jit_compile": jit, "precision": precision}
    model = {"cell": case.cell, "units": case.units, "bidirectional": case.bidirectional}
    if case.charlm:
        data_cfg = {"kind": "text", "text": "x", "seq_length": case.steps, "objective": "many_to_many"}
        encoding = {"kind": "embedding", "dim": CHAR_EMBED}
        spec = DataSpec("next_token", case.steps, CHAR_VOCAB, CHAR_VOCAB, sequence_output=True)
    else:
        # the project's IMDB recipe (configs/imdb_lstm.yaml): review last, padding masked
        data_cfg = {"kind": "imdb", "maxlen": case.steps, "padding": "pre"}
        encoding = {"kind": "embedding", "dim": EMBED, "mask_zero": variable}
        spec = DataSpec("binary", case.steps, vocab_size=VOCAB)
    cfg = Config.model_validate({"data": data_cfg, "encoding": encoding, "model": model, "train": train})
    rt = for_training(cfg)  # as `rnn train` resolves it and sets up its process
    seed_everything(cfg.seed, deterministic_ops=rt.deterministic_ops)
    net = compile_model(build_model(cfg, spec, rt), cfg, spec, rt)
    ds = epochs_dataset(data["x_pre"], data["y"], cfg)  # epoch 0's batches; every call times that one epoch
    steps = steps_per_epoch(data["x_pre"], cfg)
    return lambda: net.fit(ds, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)


def keras_seed_epoch(case: Case, data: dict):
    """The teaching material's script: Sequential, arrays, post padding, no mask, batch 32."""
    _quiet_tf()
    import keras

    layer = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[case.cell]
    rnn = layer(case.units, return_sequences=case.charlm)
    if case.bidirectional:
        rnn = keras.layers.Bidirectional(rnn)
    vocab, dim = (CHAR_VOCAB, CHAR_EMBED) if case.charlm else (VOCAB, EMBED)
    head = keras.layers.Dense(CHAR_VOCAB, activation="softmax") if case.charlm else keras.layers.Dense(1, activation="sigmoid")
    model = keras.Sequential([keras.Input((case.steps,)), keras.layers.Embedding(vocab, dim), rnn, head])
    loss = "sparse_categorical_crossentropy" if case.charlm else "binary_crossentropy"
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    batch = case.batch if case.charlm else 32  # the char LM's own script uses 64
    return lambda: model.fit(data["x_post"], data["y"], batch_size=batch, epochs=1, verbose=0)


def torch_epoch(case: Case, data: dict):
    """The same model in PyTorch: a hand-written loop at the case's batch size."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence

    torch.manual_seed(0)
    vocab, dim = (CHAR_VOCAB, CHAR_EMBED) if case.charlm else (VOCAB, EMBED)
    layer = {"simple_rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[case.cell]
    dirs = 2 if case.bidirectional else 1
    packed = case.lengths != "fixed"

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, dim)
            self.rnn = layer(dim, case.units, batch_first=True, bidirectional=case.bidirectional)
            self.out = nn.Linear(case.units * dirs, CHAR_VOCAB if case.charlm else 1)

        def forward(self, x, lengths):
            e = self.embed(x)
            if case.charlm:
                return self.out(self.rnn(e)[0])
            if packed:
                e = pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
            h = self.rnn(e)[1]
            h = h[0] if isinstance(h, tuple) else h  # LSTM: (h, c)
            return self.out(torch.cat(list(h[-dirs:]), dim=1)).squeeze(1)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss() if case.charlm else nn.BCEWithLogitsLoss()
    x = torch.from_numpy(data["x_post"].astype("int64"))
    y = torch.from_numpy(data["y"].astype("int64" if case.charlm else "float32"))
    lengths = torch.from_numpy(data["lengths"].astype("int64"))

    def epoch():
        order = torch.randperm(len(x))
        for i in range(0, len(x), case.batch):
            idx = order[i : i + case.batch]
            opt.zero_grad()
            out = net(x[idx], lengths[idx])
            loss = loss_fn(out.reshape(-1, CHAR_VOCAB), y[idx].reshape(-1)) if case.charlm else loss_fn(out, y[idx])
            loss.backward()
            opt.step()

    return epoch


PATHS = {
    "rnn_recipes": lambda case, data: rnn_recipes_epoch(case, data, jit="auto"),
    "rnn_recipes_jit_off": lambda case, data: rnn_recipes_epoch(case, data, jit=False),
    "rnn_recipes_jax": lambda case, data: rnn_recipes_epoch(case, data, jit="auto"),
    "rnn_recipes_keras_torch": lambda case, data: rnn_recipes_epoch(case, data, jit="auto"),
    "keras_seed": keras_seed_epoch,
    "torch": torch_epoch,
}
# Keras reads KERAS_BACKEND once, at import: each worker sets it before anything imports Keras
KERAS_BACKENDS = {"rnn_recipes_jax": "jax", "rnn_recipes_keras_torch": "torch"}
PRECISIONS = ["mixed_bfloat16", "mixed_float16"]  # float32 is the rnn_recipes path itself
for _p in PRECISIONS:
    PATHS[f"rnn_recipes_{_p}_xla"] = lambda case, data, p=_p: rnn_recipes_epoch(case, data, jit=True, precision=p)
    PATHS[f"rnn_recipes_{_p}_jit_off"] = lambda case, data, p=_p: rnn_recipes_epoch(case, data, jit=False, precision=p)


def _worker(conn, path: str, case: dict) -> None:
    """Build `path`'s model on `case`, then time one epoch per request; report peak RSS on `stop`."""
    os.environ["KERAS_BACKEND"] = KERAS_BACKENDS.get(path, "tensorflow")
    try:
        c = Case(**case)
        epoch = PATHS[path](c, make_data(c))
        conn.send(("built", None))
        conn.recv()
        conn.send(("ready", _timed(epoch)))  # the first epoch traces / compiles: timed apart
        while conn.recv() == "epoch":
            conn.send(("epoch", _timed(epoch)))
        conn.send(("rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    except Exception as exc:  # noqa: BLE001  (reported by the parent as this path's result)
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


# --- running a case ------------------------------------------------------------------


def run_case(case: Case, paths: list[str], repeats: int) -> dict:
    """Time `repeats` epochs of every path of `case`, interleaved; return per-path results."""
    ctx = mp.get_context("spawn")  # no TensorFlow state shared with the parent
    workers = {}
    for path in paths:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, path, asdict(case)), daemon=True)
        proc.start()
        workers[path] = (proc, parent)
    results = {p: {"epochs": []} for p in paths}
    for path, (_, conn) in workers.items():  # all build at once; then each traces alone, so timings never overlap
        kind, value = conn.recv()
        if kind == "error":
            results[path]["error"] = value
    for path, (_, conn) in workers.items():
        if "error" not in results[path]:
            conn.send("first")
            kind, value = conn.recv()
            results[path]["first_epoch_s" if kind == "ready" else "error"] = value
    live = [p for p in paths if "error" not in results[p]]
    for _ in range(repeats):
        for path in live:
            conn = workers[path][1]
            conn.send("epoch")
            kind, value = conn.recv()
            if kind != "epoch":
                results[path]["error"] = value
                live.remove(path)
                break
            results[path]["epochs"].append(value)
    for path, (proc, conn) in workers.items():
        if path in live:
            conn.send("stop")
            results[path]["rss_mb"] = conn.recv()[1]
        proc.join(timeout=30)
    data = make_data(case)
    mean_steps = float(np.mean(data["lengths"]))
    flops = train_flops_per_sample(case, mean_steps)
    for r in results.values():
        if r["epochs"]:
            r["epoch_s"] = min(r["epochs"])
            r["samples_per_s"] = case.samples / r["epoch_s"]
            r["gflops"] = r["samples_per_s"] * flops / 1e9
    return {"case": asdict(case), "mean_steps": mean_steps, "train_mflop_per_sample": flops / 1e6, "paths": results}


# --- whole-program measurements ---------------------------------------------------------


def help_seconds(repeats: int = 5) -> float:
    """Best wall time of `rnn --help` in a fresh process."""
    rnn = shutil.which("rnn", path=str(Path(sys.executable).parent)) or shutil.which("rnn")
    cmd = [rnn, "--help"] if rnn else [sys.executable, "-m", "rnn_recipes", "--help"]
    return min(_timed(lambda: subprocess.run(cmd, capture_output=True, check=True)) for _ in range(repeats))


def generation_lines() -> list[str]:
    """benchmarks.generation's table, from a short run of it."""
    cmd = [sys.executable, "-m", "benchmarks.generation", "--chars", "200", "--slow-chars", "10", "--repeats", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    return [line for line in out.stdout.splitlines() if line.startswith(("|", "speed-up"))] or [out.stderr[-300:]]


def write_imdb_npz(path: Path, n: int = 25_000, seed: int = 0) -> None:
    """A synthetic imdb.npz as Keras ships it: object arrays of word-index lists, IMDB-like lengths."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split in ("train", "test"):
        lengths = review_lengths(n, rng)
        words = rng.zipf(1.3, int(lengths.sum())) % 20_000 + 1  # frequency-ranked indices, a long tail
        reviews = np.empty(n, dtype=object)
        reviews[:] = [w.tolist() for w in np.split(words, np.cumsum(lengths)[:-1])]
        arrays[f"x_{split}"] = reviews
        arrays[f"y_{split}"] = rng.integers(0, 2, n).astype("int64")
    np.savez(path, **arrays)


def imdb_run(limit: int | None) -> dict:
    """`rnn train` on a synthetic 25,000-review imdb.npz, maxlen 500, one epoch: wall time and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_imdb_npz(tmp / "imdb.npz")
        lines = [
            "seed: 1",
            "data: {kind: imdb, path: imdb.npz, num_words: 10000, maxlen: 500, padding: pre"
            + (f", limit: {limit}" if limit else "") + "}",
            "encoding: {kind: embedding, dim: 32, mask_zero: true}",
            "model: {cell: lstm, units: 64}",
            "train: {epochs: 1, batch_size: 32}",
            "output: {plots: false}",
        ]
        (tmp / "imdb_500.yaml").write_text("\n".join(lines) + "\n")
        rnn = shutil.which("rnn", path=str(Path(sys.executable).parent))
        cmd = [rnn, "train", str(tmp / "imdb_500.yaml"), "--out", str(tmp / "run")]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not every child's
        wall = time.perf_counter() - start
        err = proc.stderr.read().decode(errors="replace")
        proc.returncode = os.waitstatus_to_exitcode(status)
        metrics = tmp / "run" / "metrics.json"
        return {
            "reviews": limit or 25_000,
            "ok": proc.returncode == 0 and metrics.is_file(),
            "wall_s": wall,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "error": "" if proc.returncode == 0 else err.strip().splitlines()[-1:],
        }


# --- report ----------------------------------------------------------------------------


def machine() -> dict:
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "numpy", "torch", "jax", "jaxlib"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return {"cpu": model, "cores": os.cpu_count(), **versions}


def installed(module: str) -> bool:
    """Whether `module` can be imported here, without importing it."""
    try:
        import importlib.util

        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def case_table(result: dict, paths: list[str], peak: float) -> list[str]:
    case, res = result["case"], result["paths"]
    ours = res.get("rnn_recipes", {}).get("samples_per_s")
    rows = []
    for path in paths:
        r = res[path]
        if "error" in r:
            rows.append(f"| {case['name']} | {path} | error: {r['error']} | | | | | |")
            continue
        sps = r["samples_per_s"]
        ratio = f"{ours / sps:.2f}x" if ours and path != "rnn_recipes" else ""
        rows.append(
            f"| {case['name']} | {path} (batch {32 if path == 'keras_seed' and not case['charlm'] else case['batch']}) "
            f"| {sps:,.0f} | {r['epoch_s']:.2f} | {r['first_epoch_s']:.2f} | {r['rss_mb']:,.0f} "
            f"| {100 * r['gflops'] / peak:.1f}% | {ratio} |"
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}, 2 repeats, a 2,000-review IMDB run")
    parser.add_argument("--cases", help="comma-separated case names (default: all, or the quick ones)")
    parser.add_argument("--repeats", type=int, help="timed epochs per path (default 3; 2 with --quick)")
    parser.add_argument("--samples", type=int, help="override every case's samples per epoch (smoke runs)")
    parser.add_argument("--steps", type=int, help="override every case's time steps (smoke runs)")
    parser.add_argument("--jit-off", action="store_true", help="also time the project's path with train.jit_compile: false")
    parser.add_argument("--precision", help=f"also time the project's path under these train.precision values, "
                        f"with and without XLA (comma-separated: {', '.join(PRECISIONS)})")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is installed")
    parser.add_argument("--no-jax", action="store_true", help="leave Keras' JAX backend out even when jax is installed")
    parser.add_argument("--keras-torch", action="store_true", help="also time the project's path on Keras' torch backend")
    parser.add_argument("--no-seed", action="store_true", help="leave the seed-style Keras script out")
    parser.add_argument("--no-extras", action="store_true", help="skip rnn --help, generation and the IMDB-sized run")
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    args = parser.parse_args(argv)

    names = args.cases.split(",") if args.cases else (QUICK if args.quick else [c.name for c in CASES])
    by_name = {c.name: c for c in CASES}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        parser.error(f"unknown case {', '.join(unknown)}; expected some of: {', '.join(by_name)}")
    cases = [by_name[n] for n in names]
    if args.samples:
        cases = [replace(c, samples=args.samples) for c in cases]
    if args.steps:
        cases = [replace(c, steps=args.steps) for c in cases]
    repeats = args.repeats or (2 if args.quick else 3)
    has_jax = installed("jax") and not args.no_jax
    if args.keras_torch and not installed("torch"):
        parser.error("--keras-torch needs torch installed (pip install -e '.[bench]')")
    precisions = args.precision.split(",") if args.precision else []
    if set(precisions) - set(PRECISIONS):
        parser.error(f"unknown precision {', '.join(sorted(set(precisions) - set(PRECISIONS)))}; expected some of: {', '.join(PRECISIONS)}")
    paths = ["rnn_recipes", *(["rnn_recipes_jit_off"] if args.jit_off else []),
             *[f"rnn_recipes_{p}_{jit}" for p in precisions for jit in ("xla", "jit_off")],
             *(["rnn_recipes_jax"] if has_jax else []), *(["rnn_recipes_keras_torch"] if args.keras_torch else []),
             *([] if args.no_seed else ["keras_seed"])]
    has_torch = installed("torch") and not args.no_torch
    if has_torch:
        paths.append("torch")

    info = machine()
    load_start = os.getloadavg()
    peak = matmul_peak_gflops()
    print(f"machine: {info['cpu']}, {info['cores']} cores; " + ", ".join(f"{k} {v}" for k, v in info.items() if k not in ("cpu", "cores")))
    print(f"load average at start (1/5/15 min): {' '.join(f'{x:.2f}' for x in load_start)}")
    if not has_jax:
        print("JAX backend row absent: jax is not installed (pip install jax)" if not args.no_jax else "JAX backend row absent: --no-jax")
    if not has_torch:
        print("PyTorch column absent: torch is not installed (pip install -e '.[bench]')" if not args.no_torch
              else "PyTorch column absent: --no-torch")
    results = []
    for case in cases:
        peak = max(peak, matmul_peak_gflops())  # a busy moment understates it; keep the best seen
        result = run_case(case, paths, repeats)
        results.append(result)
        done = ", ".join(f"{p} {r['samples_per_s']:,.0f}/s" if "samples_per_s" in r else f"{p} failed"
                         for p, r in result["paths"].items())
        print(f"{case.name}: {done}", file=sys.stderr, flush=True)
    peak = max(peak, matmul_peak_gflops())
    print(f"float32 matmul peak, best seen during the run: {peak:.0f} GFLOP/s")
    print(f"best of {repeats} interleaved epochs per path; ratio = rnn_recipes samples/s over that path's\n")
    print("| case | path | samples/s | epoch s | first epoch s | peak RSS MB | of matmul peak | rnn_recipes is |")
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        for row in case_table(result, paths, peak):
            print(row)
    for result in results:
        if result["case"]["charlm"] and "error" not in result["paths"]["rnn_recipes"]:
            projected = {p: CORPUS_WINDOWS / r["samples_per_s"] for p, r in result["paths"].items() if "samples_per_s" in r}
            print("\nchar LM, projected epoch of a 1.1 MB corpus (11,000 windows of 100): "
                  + ", ".join(f"{p} {s:.0f} s" for p, s in projected.items()))
    report = {"machine": info, "load_start": load_start, "matmul_peak_gflops": peak, "repeats": repeats, "cases": results}
    if not args.no_extras:
        report["help_s"] = help_seconds()
        print(f"\n`rnn --help` wall time (best of 5): {report['help_s']:.2f} s")
        print("\ngeneration (benchmarks.generation, short run):")
        report["generation"] = generation_lines()
        print("\n".join(report["generation"]))
        report["imdb"] = imdb_run(2000 if args.quick else None)
        r = report["imdb"]
        print(f"\nIMDB-sized run (`rnn train`, synthetic 25,000+25,000-review imdb.npz, maxlen 500, one epoch on "
              f"{r['reviews']:,} reviews): peak RSS {r['peak_rss_mb']:,.0f} MB, wall {r['wall_s']:.0f} s"
              + ("" if r["ok"] else f", FAILED: {r['error']}"))
    report["load_end"] = os.getloadavg()
    print(f"\nload average at end (1/5/15 min): {' '.join(f'{x:.2f}' for x in report['load_end'])}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
