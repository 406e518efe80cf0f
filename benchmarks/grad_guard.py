"""The gradient guard's cost: one epoch's time with `train.grad_guard` on and off, interleaved.

    python -m benchmarks.grad_guard [--rounds 6]

Two models on the bundled corpus: the tiny smoke config's LSTM(32) and
text_lstm's with 256 units. Both settings are built and compiled once, then
train one epoch each, alternately, for several rounds, so a load that drifts
hits both; the fastest epoch of each (after the first, which compiles) is
the least disturbed by other work on the machine, and is compared.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rnn_recipes.config_load import load_config
from rnn_recipes.data import load_dataset
from rnn_recipes.gradguard import install
from rnn_recipes.model import build_model, compile_model
from rnn_recipes.pipeline import epochs_dataset
from rnn_recipes.train import seed_everything

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "LSTM(32), configs/tiny/text_char_lstm": (ROOT / "configs/tiny/text_char_lstm.yaml", []),
    "LSTM(256), configs/text_lstm": (ROOT / "configs/text_lstm.yaml", ["model.units=256"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    for label, (path, sets) in MODELS.items():
        cfg = load_config(path, sets)
        ds = load_dataset(cfg)
        seed_everything(cfg.seed, deterministic_ops=False)
        models = {}
        for guard in (False, True):
            model = compile_model(build_model(cfg, ds.spec), cfg, ds.spec)
            if guard:
                install(model.optimizer, cfg.train.clipnorm, cfg.train.clipvalue)
            models[guard] = model
        times: dict[bool, list[float]] = {False: [], True: []}
        for r in range(args.rounds + 1):
            for guard, model in models.items():
                start = time.perf_counter()
                model.fit(epochs_dataset(ds.x_train, ds.y_train, cfg, r, r + 1), epochs=1, verbose=0)
                if r:  # round 0 compiles
                    times[guard].append(time.perf_counter() - start)
        off, on = min(times[False]), min(times[True])
        print(f"{label}: fastest epoch off {off:.3f} s, on {on:.3f} s, cost {100 * (on / off - 1):+.1f}%  "
              f"(all off {[round(t, 2) for t in times[False]]}, on {[round(t, 2) for t in times[True]]})", flush=True)


if __name__ == "__main__":
    main()
