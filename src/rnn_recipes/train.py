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

from rnn_recipes import distribute
from rnn_recipes.backend import import_keras
from rnn_recipes.config import Config
from rnn_recipes.data import load_dataset
from rnn_recipes.metrics import evaluate_model
from rnn_recipes.runs import atomic_write, save_config, write_json, write_manifest, write_text

keras = import_keras()

from rnn_recipes import plots  # noqa: E402  (matplotlib after keras keeps one import order)
from rnn_recipes.model import build_model, compile_model, summary_text  # noqa: E402


def seed_everything(seed: int) -> None:
    """Same config + seed -> same weights, batches and metrics."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def _versions() -> dict:
    names = ["rnn-recipes", "keras", "tensorflow", "numpy", "pydantic", "typer", "pyyaml"]
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "platform": platform.platform(), **found}


def _history_csv(history: dict, first_epoch: int = 1) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    keys = list(history)
    writer.writerow(["epoch", *keys])
    for epoch, row in enumerate(zip(*(history[k] for k in keys)), start=first_epoch):
        writer.writerow([epoch, *(f"{v:.6g}" for v in row)])
    return buf.getvalue()


def train(cfg: Config, out: Path | None = None, verbose: int | None = None) -> Path:
    """Train `cfg`, write its run directory and return the directory's path.

    Args:
        cfg: the validated config.
        out: run directory; default `output.dir/<name>-<timestamp>`.
        verbose: Keras verbosity; default a progress bar on a terminal, a line per epoch otherwise.
    """
    plan = distribute.setup(cfg, out)  # first: devices are fixed once TensorFlow makes a tensor
    ds = load_dataset(cfg)
    run_dir = distribute.prepare_run_dir(plan, cfg, out)  # a non-chief worker's is temporary
    seed_everything(cfg.seed)
    with plan.scope():
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
    if plan.distributed:  # tf.data batches of the global size, sharded over workers; resumable across restarts
        data = distribute.fit_data(plan, ds, cfg)
        callbacks += distribute.backup_callbacks(plan)
    else:
        data = dict(
            x=ds.x_train,
            y=ds.y_train,
            batch_size=cfg.train.batch_size,
            validation_data=(ds.x_val, ds.y_val) if ds.has_val else None,
            shuffle=cfg.train.shuffle,
        )
    with distribute.peer_failures(plan):
        fitted = model.fit(
            **data,
            epochs=cfg.train.epochs,
            callbacks=callbacks,
            verbose=(1 if sys.stdout.isatty() else 2) if verbose is None else verbose,
        )
    history = fitted.history

    metrics = evaluate_model(model, ds, cfg.train.batch_size)
    metrics["epochs_run"] = len(history["loss"])
    atomic_write(run_dir / "model.keras", model.save)
    write_text(run_dir / "history.csv", _history_csv(history, first_epoch=fitted.epoch[0] + 1 if fitted.epoch else 1))
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
    return distribute.finish(plan, model, run_dir)  # a non-chief worker removes its directory
