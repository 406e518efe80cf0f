"""The gradient guard's cost: seconds per epoch with `train.grad_guard` on and off, runs interleaved.

    python -m benchmarks.grad_guard [--repeats 3] [--epochs 4]

Two models on the bundled corpus: the tiny smoke config's LSTM(32) and an
LSTM(256). Each repeat trains both settings back to back, so a load that
drifts over the minutes hits both; the median epoch (the first, which traces,
is left out by `seconds_per_epoch`) is compared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from rnn_recipes.config_load import load_config
from rnn_recipes.train import train

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "lstm32 (configs/tiny/text_char_lstm)": (ROOT / "configs/tiny/text_char_lstm.yaml", []),
    "lstm256 (configs/text_lstm, units 256)": (ROOT / "configs/text_lstm.yaml", ["model.units=256", "train.patience=null"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, (path, sets) in MODELS.items():
            times: dict[bool, list[float]] = {False: [], True: []}
            for r in range(args.repeats):
                for guard in (False, True):
                    cfg = load_config(path, [*sets, f"train.epochs={args.epochs}", f"train.grad_guard={str(guard).lower()}",
                                             "output.plots=false"])
                    run = train(cfg, Path(tmp) / f"{label[:7]}-{r}-{guard}", verbose=0)
                    times[guard].append(json.loads((run / "metrics.json").read_text())["seconds_per_epoch"])
            off, on = statistics.median(times[False]), statistics.median(times[True])
            print(f"{label}: off {off:.3f} s/epoch, on {on:.3f} s/epoch, cost {100 * (on / off - 1):+.1f}%  "
                  f"(off {[round(t, 3) for t in times[False]]}, on {[round(t, 3) for t in times[True]]})", flush=True)


if __name__ == "__main__":
    main()
