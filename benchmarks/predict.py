"""Prediction speed: `rnn predict` on a file of texts and on one text, side by side with calling Keras directly.

    python -m benchmarks.predict [--run RUN] [--lines 10000] [--repeats 3]

Without --run, configs/tiny/reviews_lstm.yaml is trained into a temporary
directory first. The file holds --lines texts cycled from the bundled reviews.
Rows:

- direct, in process: `inference.keras` loaded by plain Keras, one
  `model.predict(texts, batch_size=256)` over the whole file;
- rnn predict, in process: `predict.predict_run` streaming the file in
  batches of 256, each result formatted as `rnn predict` prints it;
- both again as fresh processes (`python -c` with plain Keras; `rnn predict
  --file`), so Python, TensorFlow and model loading count too;
- single-text latency from a warm process: `model.predict_on_batch` on one
  string, and `predict_run` on one text with a loaded predictor (median of 100,
  interleaved).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_file(path: Path, lines: int) -> list[str]:
    with open(ROOT / "configs" / "data" / "reviews.csv", newline="", encoding="utf-8") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    out = [texts[i % len(texts)] for i in range(lines)]
    path.write_text("".join(t + "\n" for t in out), encoding="utf-8")
    return out


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def wall(cmd: list[str]) -> float:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-subprocess", action="store_true", help="skip the fresh-process rows")
    args = parser.parse_args()
    load_start = os.getloadavg()

    from rnn_recipes.backend import import_keras
    from rnn_recipes.predict import format_plain, load_predictor, predict_run
    from rnn_recipes.predict_input import texts_from_file

    keras = import_keras()
    tmp = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    run = args.run
    if run is None:
        from rnn_recipes.config_load import load_config
        from rnn_recipes.train import train

        run = train(load_config(ROOT / "configs" / "tiny" / "reviews_lstm.yaml"), tmp / "run", verbose=0)
    path = tmp / "texts.txt"
    texts = make_file(path, args.lines)

    model = keras.models.load_model(run / "inference.keras", safe_mode=True)
    predictor = load_predictor(run)
    batch = np.array(texts, dtype=object)
    model.predict(batch[:512], batch_size=256, verbose=0)  # warm both paths: traces, first calls
    list(predict_run(predictor, texts[:512]))

    direct = best(lambda: model.predict(batch, batch_size=256, verbose=0), args.repeats)

    def ours():
        with open(os.devnull, "w") as sink:
            for result in predict_run(predictor, texts_from_file(path, "text")):
                sink.write(format_plain(result) + "\n")

    cli = best(ours, args.repeats)
    one = np.array(["Broke after a week."], dtype=object)
    model.predict_on_batch(one)
    pairs = [(best(lambda: model.predict_on_batch(one), 1), best(lambda: list(predict_run(predictor, ["Broke after a week."])), 1))
             for _ in range(100)]  # interleaved, so a busy moment on the machine hits both paths
    direct_one, ours_one = (statistics.median(col) for col in zip(*pairs))

    n = args.lines
    print(f"# rnn predict vs plain Keras, {n:,} texts ({run})\n")
    print("| path | seconds | texts/s | vs direct |")
    print("|---|---:|---:|---:|")
    print(f"| direct `model.predict` (warm, in process) | {direct:.3f} | {n / direct:,.0f} | 1.00x |")
    print(f"| `predict_run` streaming, batches of 256 (warm, in process) | {cli:.3f} | {n / cli:,.0f} | {cli / direct:.2f}x |")
    if not args.no_subprocess:
        script = (f"import numpy as np, keras; m = keras.models.load_model({str(run / 'inference.keras')!r}, safe_mode=True); "
                  f"t = open({str(path)!r}, encoding='utf-8').read().splitlines(); "
                  "print(m.predict(np.array(t, dtype=object), batch_size=256, verbose=0).argmax(1).sum())")
        d_proc = wall([sys.executable, "-c", script])
        c_proc = wall([sys.executable, "-m", "rnn_recipes", "predict", str(run), "--file", str(path)])
        print(f"| plain Keras script, fresh process | {d_proc:.2f} | {n / d_proc:,.0f} | 1.00x |")
        print(f"| `rnn predict --file`, fresh process | {c_proc:.2f} | {n / c_proc:,.0f} | {c_proc / d_proc:.2f}x |")
    print(f"\nsingle text, warm: direct `predict_on_batch` {direct_one * 1e3:.2f} ms, "
          f"`predict_run` {ours_one * 1e3:.2f} ms ({ours_one / direct_one:.2f}x)")
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("keras", "tensorflow", "numpy"))
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{versions}; load average at start {load_start[0]:.2f}, at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
