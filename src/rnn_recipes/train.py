"""Train a config end to end: data -> model -> fit -> test metrics -> run directory."""

from __future__ import annotations

import csv
import io
import json
import platform
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from rnn_recipes.backend import import_keras
from rnn_recipes.config import Config
from rnn_recipes.data import load_dataset
from rnn_recipes.metrics import evaluate_model
from rnn_recipes.runs import atomic_write, new_run_dir, save_config, write_json, write_manifest, write_text

keras = import_keras()

from rnn_recipes import plots  # noqa: E402  (matplotlib after keras keeps one import order)
from rnn_recipes.model import build_model, compile_model, summary_text, use_jit  # noqa: E402
from rnn_recipes.pipeline import train_dataset  # noqa: E402


def seed_everything(seed: int, deterministic_ops: bool = True) -> None:
    """Same config + seed -> same weights, batches and metrics.

    Keras refuses XLA while TensorFlow's op determinism is on, so a jit-compiled
    run passes `deterministic_ops=False` and is reproducible only as far as XLA is.
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if deterministic_ops:
            tf.config.experimental.enable_op_determinism()
        else:  # the switch is process-wide: an earlier run in this process may have set it
            from tensorflow.python.framework.config import disable_op_determinism

            disable_op_determinism()


def _versions() -> dict:
    names = ["rnn-recipes", "keras", "tensorflow", "numpy", "pydantic", "typer", "pyyaml"]
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "platform": platform.platform(), **found}


def _history_csv(history: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    keys = list(history)
    writer.writerow(["epoch", *keys])
    for epoch, row in enumerate(zip(*(history[k] for k in keys)), start=1):
        writer.writerow([epoch, *(f"{v:.6g}" for v in row)])
    return buf.getvalue()


def train(cfg: Config, out: Path | None = None, verbose: int | None = None) -> Path:
    """Train `cfg`, write its run directory and return the directory's path.

    Args:
        cfg: the validated config.
        out: run directory; default `output.dir/<name>-<timestamp>`.
        verbose: Keras verbosity; default a progress bar on a terminal, a line per epoch otherwise.
    """
    ds = load_dataset(cfg)
    run_dir = new_run_dir(cfg, out)
    seed_everything(cfg.seed, deterministic_ops=use_jit(cfg) is not True)
    model = compile_model(build_model(cfg, ds.spec), cfg, ds.spec)
    save_config(run_dir, cfg)
    if ds.vocab is not None:
        write_json(run_dir / "vocab.json", {"level": ds.level, "tokens": ds.vocab})
    print(f"run directory: {run_dir}", file=sys.stderr)

    callbacks = []
    if cfg.train.patience and ds.has_val:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.train.patience, restore_best_weights=True)
        )
    history = model.fit(
        train_dataset(ds.x_train, ds.y_train, cfg),  # seeded batches, bucketed by length where exact
        epochs=cfg.train.epochs,
        shuffle=False,  # the dataset already is, by the run's seed
        validation_data=(ds.x_val, ds.y_val) if ds.has_val else None,
        validation_batch_size=cfg.train.batch_size,
        callbacks=callbacks,
        verbose=(1 if sys.stdout.isatty() else 2) if verbose is None else verbose,
    ).history

    metrics = evaluate_model(model, ds, cfg.train.batch_size)
    metrics["epochs_run"] = len(history["loss"])
    atomic_write(run_dir / "model.keras", model.save)
    write_text(run_dir / "history.csv", _history_csv(history))
    write_json(run_dir / "metrics.json", metrics)
    write_text(run_dir / "summary.txt", summary_text(model) + "\n")
    write_json(run_dir / "versions.json", _versions())
    if cfg.output.plots:
        plots.learning_curves(history, run_dir / "curves.png", title=cfg.name)
        if ds.spec.task == "regression":
            pred = model.predict(ds.x_test, batch_size=cfg.train.batch_size, verbose=0)
            plots.predictions(ds.y_test[:, 0], pred[:, 0], run_dir / "predictions.png", title=cfg.name)
    write_manifest(run_dir)
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}), file=sys.stderr)
    return run_dir
