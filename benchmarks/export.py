"""Exports of every task kind in every format: export time, the verified difference, and inference time beside Keras.

    python -m benchmarks.export [--configs tiny/reviews_lstm,...] [--formats saved_model,onnx,litert] [--repeats 5]
                                [--set model.cell=peephole_lstm ...]

Each config is trained into a temporary directory (the tiny configs by
default: one per task kind), then exported in each format by
`rnn_recipes.export.export_run`, which reloads the export with its own
runtime and compares it with the Keras model on the test split. Columns:

- export s: writing and converting (`ExportResult.seconds`), verification not included;
- max abs diff, bound: the verification's numbers;
- Keras ms, export ms: one call on the verification inputs (the test split,
  at most `VERIFY_MAX` examples), best of --repeats, in this process: Keras'
  `predict_on_batch` against the format's runtime on the same array;
- ratio: Keras ms / export ms (above 1: the export answers faster).

A format that cannot hold a model gets a `refused` row with the one-line reason.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from benchmarks.predict import best

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("tiny/reviews_lstm", "tiny/text_char_lstm", "tiny/imdb_embedding_lstm", "tiny/sine_simple_rnn",
           "tiny/series_sunspots_gru", "tiny/timing_lstm", "tiny/ner_bilstm")


def runtime_call(fmt: str, path: Path, x: np.ndarray):
    """A function calling the export at `path` on `x` with its own runtime (loaded once)."""
    if fmt == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        fn = loaded.serve_ids if hasattr(loaded, "serve_ids") else loaded.serve
        tensor = tf.constant(x)
        return lambda: (loaded, fn(tensor).numpy())
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        return lambda: session.run(None, feed)
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    name = next(iter(runner.get_input_details()))
    return lambda: runner(**{name: x})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--formats", default="saved_model,onnx,litert")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], help="a config override for every config, e.g. model.cell=peephole_lstm")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT / "src"))
    from rnn_recipes.bundled import resolve_named
    from rnn_recipes.config_load import load_config
    from rnn_recipes.export import PLANS, ExportError, export_run
    from rnn_recipes.runs import load_run
    from rnn_recipes.train import train

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs.split(","):
            cfg = load_config(resolve_named(name, "configs"), ["output.plots=false", *args.set])
            run_dir = train(cfg, Path(tmp) / cfg.name, verbose=0)
            for fmt in args.formats.split(","):
                try:
                    result = export_run(run_dir, fmt, Path(tmp) / f"{cfg.name}-{fmt}")
                except ExportError as exc:  # a format that cannot hold the model: its reason in the table
                    rows.append((cfg.name, "refused", fmt, 0, 0.0, float("nan"), float("nan"), float("nan"), str(exc)))
                    continue
                run = load_run(run_dir)
                plan = PLANS[run.config.data.kind](run, fmt, run.load_model())
                keras_ms = best(lambda: plan.model.predict_on_batch(plan.x), args.repeats) * 1e3
                call = runtime_call(fmt, result.path / result.metadata["file"], plan.x)
                export_ms = best(call, args.repeats) * 1e3
                rows.append((cfg.name, result.metadata["task"], fmt, result.examples, result.seconds,
                             result.max_abs_diff, result.metadata["verification"]["bound"], keras_ms, export_ms))
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load average at start {load:.2f}; "
          f"python {platform.python_version()}, tensorflow {metadata.version('tensorflow')}, "
          f"keras {metadata.version('keras')}, onnxruntime {metadata.version('onnxruntime')}, "
          f"tf2onnx {metadata.version('tf2onnx')}, ai-edge-litert {metadata.version('ai-edge-litert')}")
    print()
    print("| run | task | format | examples | export s | max abs diff | bound | Keras ms | export ms | ratio |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for run, task, fmt, n, secs, diff, limit, k_ms, e_ms in rows:
        if isinstance(e_ms, str):
            print(f"| {run} | {task} | {fmt} | | | | | | {e_ms} | |")
            continue
        print(f"| {run} | {task} | {fmt} | {n} | {secs:.1f} | {diff:.2g} | {limit:.2g} | {k_ms:.2f} | {e_ms:.2f} | "
              f"{k_ms / e_ms:.1f}x |")


if __name__ == "__main__":
    main()
