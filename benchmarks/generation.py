"""Generation speed: the NumPy step engine against calling model.predict once per character.

    python -m benchmarks.generation [--chars 400] [--units 256]

Both paths run on the same untrained char model (Embedding(64, 32) ->
LSTM(units) -> Dense(64, softmax), windows of 100), interleaved, in one
process; the ratio is what to read on a noisy machine.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from rnn_recipes.backend import import_keras
from rnn_recipes.config import Config
from rnn_recipes.data import DataSpec
from rnn_recipes.engine import Engine, generate
from rnn_recipes.model import build_model

keras = import_keras()
VOCAB, WINDOW = 64, 100


def char_model(units: int):
    cfg = Config.model_validate({
        "data": {"kind": "text", "text": "x", "seq_length": WINDOW, "objective": "many_to_many"},
        "encoding": {"kind": "embedding", "dim": 32},
        "model": {"cell": "lstm", "units": units},
    })
    return build_model(cfg, DataSpec("next_token", WINDOW, VOCAB, VOCAB, sequence_output=True))


def fast_ms_per_char(engine: Engine, seed: list[int], n: int) -> float:
    start = time.perf_counter()
    for _ in generate(engine, seed, n, mode="stateful", window=WINDOW, temperature=1.0, top_k=None, rng=np.random.default_rng(0)):
        pass
    return (time.perf_counter() - start) / n * 1e3


def predict_ms_per_char(model, seed: list[int], n: int) -> float:
    """The textbook loop: re-read the last window with model.predict for every character."""
    ids = list(seed)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(n):
        probs = model.predict(np.array([ids[-WINDOW:]]), verbose=0)[0, -1]
        ids.append(int(rng.choice(VOCAB, p=probs / probs.sum())))
    return (time.perf_counter() - start) / n * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=400, help="characters per fast-path measurement")
    parser.add_argument("--slow-chars", type=int, default=30, help="characters per predict-loop measurement")
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    model = char_model(args.units)
    engine = Engine(model)
    seed = list(np.random.default_rng(1).integers(0, VOCAB, WINDOW))
    fast_ms_per_char(engine, seed, 10)  # warm-up
    predict_ms_per_char(model, seed, 3)
    fast, slow = [], []
    for _ in range(args.repeats):  # interleaved so machine noise hits both alike
        fast.append(fast_ms_per_char(engine, seed, args.chars))
        slow.append(predict_ms_per_char(model, seed, args.slow_chars))
    f, s = min(fast), min(slow)
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"keras {keras.__version__}, numpy {np.__version__}")
    print(f"| path | ms per char (best of {args.repeats}) |\n|---|---|")
    print(f"| NumPy step engine, stateful, LSTM({args.units}) | {f:.3f} |")
    print(f"| model.predict per char, window {WINDOW} | {s:.1f} |")
    print(f"speed-up: {s / f:.0f}x; target <= 1 ms/char: {'met' if f <= 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
