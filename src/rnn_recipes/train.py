"""Train a config end to end: data -> model -> fit -> test metrics -> run directory."""

from __future__ import annotations

import csv
import io
import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from rnn_recipes import autotune, compat, distribute, runtime, tasks
from rnn_recipes.backend import import_keras
from rnn_recipes.config import Config
from rnn_recipes.data import load_dataset
from rnn_recipes.dataset import Dataset, rows, take
from rnn_recipes.fileio import atomic_write, write_json, write_text
from rnn_recipes.metrics import evaluate_model
from rnn_recipes.tagged import TAGGER_FILE
from rnn_recipes.rundir import check_free_space, open_run, save_config, write_manifest

keras = import_keras()

from rnn_recipes import forecast, plots  # noqa: E402  (matplotlib after keras keeps one import order)
from rnn_recipes.checkpoint import Checkpoint  # noqa: E402
from rnn_recipes.model import build_model, compile_model, summary_text  # noqa: E402
from rnn_recipes import controls as ctl  # noqa: E402
from rnn_recipes import pipeline  # noqa: E402
from rnn_recipes.gradguard import GradGuard  # noqa: E402
from rnn_recipes.intervals import interval_count, interval_dataset  # noqa: E402
from rnn_recipes import progress, tensorboard_log  # noqa: E402


def seed_everything(seed: int, deterministic_ops: bool = True) -> None:
    """Same config + seed -> same weights, batches and metrics.

    TensorFlow's op determinism is turned on only where results would vary
    without it (`runtime.needs_op_determinism`: a GPU, several devices); Keras
    refuses XLA while it is on. On one CPU, runs repeat bit for bit either way.
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if deterministic_ops:
            tf.config.experimental.enable_op_determinism()
        else:  # the switch is process-wide: an earlier run in this process may have set it
            compat.disable_op_determinism()


def _versions() -> dict:
    names = ["rnn-recipes", "keras", "tensorflow", "numpy", "pydantic", "typer", "pyyaml"]
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "platform": platform.platform(), **found}


class EpochTimer(keras.callbacks.Callback):
    """Adds `seconds`, each epoch's wall-clock time (validation included), to the epoch's logs.

    Put it first: the callbacks after it (the checkpoint, Keras' History) then
    record the time with the epoch's metrics, so it survives a resume.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = time.perf_counter() - self._start


def build_training_state(model: keras.Model, ds: Dataset, batch_size: int) -> None:
    """Create the optimizer's slots and the compiled metrics' variables before `fit`.

    Without a distribution strategy, Keras' TensorFlow trainer creates them
    while it traces the train step, and `tf.function` then traces the step a
    second time without creating them. Building them here, through public
    APIs (the metrics' state is reset after), leaves one trace per run; XLA
    still compiled the step twice in the first epoch (docs/recipes.md,
    "The slow second epoch, investigated"). The metrics are built on predictions of
    zeros shaped as the model's output: calling the model here would advance
    its dropout's random state and change the run. Optimizers skip a second
    `build`, so a checkpoint's restore still loads into these variables.
    """
    x, y = take(ds.x_train, slice(0, batch_size)), ds.y_train[:batch_size]  # x: an array, or a seq2seq tuple
    out = model.outputs[0]
    model.compute_metrics(x, y, keras.ops.zeros((rows(x), *out.shape[1:]), dtype=out.dtype), sample_weight=None)
    model.reset_metrics()
    model.optimizer.build(model.trainable_variables)


def _history_csv(history: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    keys = list(history)
    writer.writerow(["epoch", *keys])
    for epoch, row in enumerate(zip(*(history[k] for k in keys)), start=1):
        writer.writerow([epoch, *(f"{v:.6g}" for v in row)])
    return buf.getvalue()


def _controls(cfg: Config, ds: Dataset, run_dir: Path, epochs: int, steps_per_epoch: int) -> list:
    """The callbacks for train.lr_schedule, train.time_budget and output.sample_every, in their order."""
    budget = ctl.TimeBudget(cfg.train.time_budget, epochs, steps_per_epoch) if cfg.train.time_budget else None
    found = [*([budget] if budget else []), *ctl.make_schedule(cfg, ds.has_val, epochs, steps_per_epoch, budget)]
    if cfg.output.sample_every and ds.vocab is not None:
        seed_text = ds.x_val if ds.has_val else ds.x_train
        found.append(ctl.Samples(cfg, run_dir, ds.vocab, ds.level, seed_text[0]))
    return found


def _stop_record(cfg: Config, history: dict, early_stopping, controls: list) -> dict:
    """metrics.json's account of the run's time and why training stopped: epochs | budget | early_stopping."""
    budget = next((c for c in controls if isinstance(c, ctl.TimeBudget)), None)
    if budget is not None and budget.stopped:
        stopped = "budget"
    elif early_stopping is not None and early_stopping.stopped_epoch > 0:
        stopped = "early_stopping"
    else:
        stopped = "epochs"
    used = budget.used if budget is not None else float(sum(history.get("seconds", [])))
    return {"stopped": stopped, "time_budget": cfg.train.time_budget, "time_used": round(used, 3)}


def train(
    cfg: Config,
    out: Path | None = None,
    verbose: int | None = None,
    *,
    resume: Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Train `cfg`, write its run directory and return the directory's path.

    Args:
        cfg: the validated config.
        out: run directory; default `output.dir/<name>-<timestamp>`.
        verbose: progress (`rnn_recipes.progress`): None a live line per epoch on a terminal and a line
            per epoch otherwise; 0 nothing (not even the last line), 1 the live line, 2 a line per epoch.
        resume: an unfinished run directory to continue from its last checkpoint.
        overwrite: replace an existing run at `out` once the new one is complete.
    """
    plan = distribute.setup(cfg, out or resume)  # first: devices are fixed once TensorFlow makes a tensor
    ds = load_dataset(cfg)
    if not plan.is_chief:  # a multi-worker peer: trains in step, writes to scratch, resumes from the chief's run
        with distribute.scratch_dir(plan) as scratch:
            _train(cfg, ds, scratch, verbose, plan, restore_from=resume)
        return plan.shared_dir
    with open_run(cfg, out, resume=resume, overwrite=overwrite, data_sha256=ds.content_sha256()) as run:  # locked; SIGINT/SIGTERM -> resume hint
        metrics = _train(cfg, ds, run.path, verbose, plan)
        final = run.finish()
    if verbose != 0:
        print(progress.final_line(final, metrics), file=sys.stderr)
    return final


def _train(
    cfg: Config, ds: Dataset, run_dir: Path, verbose: int | None, plan: distribute.Plan, restore_from: Path | None = None
) -> dict:
    """Build, fit (from the last checkpoint, if any) and write every artifact into `run_dir`; return the metrics."""
    rt = runtime.for_training(cfg)  # XLA, bucketing, cuDNN, precision: decided here, once; malloc set up
    # XLA auto, where the rules leave it open: timed on throwaway models, before the run's model is seeded
    rt = autotune.settle(cfg, ds, rt, log=lambda msg: print(msg, file=sys.stderr))
    print(rt.line(), file=sys.stderr)
    seed_everything(cfg.seed, deterministic_ops=rt.deterministic_ops)
    with plan.scope():  # the variables are mirrored over the plan's replicas
        model = compile_model(build_model(cfg, ds.spec, rt), cfg, ds.spec, rt)
    check_free_space(run_dir, model.count_params())
    save_config(run_dir, cfg)
    write_json(run_dir / "runtime.json", rt.to_json())
    if ds.codec is not None:
        write_json(run_dir / "vocab.json", ds.codec.to_json())
    if "tagger" in ds.extra:  # tagged data: the words, characters and tags `rnn predict` reads text with
        write_json(run_dir / TAGGER_FILE, ds.extra["tagger"])
    if ds.series is not None:  # the columns and training-part scaling a forecast repeats
        write_json(run_dir / forecast.SERIES_JSON, ds.series.meta)
    print(f"run directory: {run_dir}", file=sys.stderr)
    if rt.gpu and (reason := runtime.cudnn_blocker(cfg)):
        print(f"note: the recurrent layers run without cuDNN: {reason}", file=sys.stderr)

    early_stopping = None
    if ds.has_val and (cfg.train.patience or cfg.train.time_budget):
        # a budget without patience still ends on the best validation epoch's weights
        patience = cfg.train.patience or 2**31  # never stops on its own
        early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    # an epoch is one pass over the training set, or an interval of train.eval_every steps
    steps_per_pass = pipeline.steps_per_epoch(ds.x_train, cfg)
    steps_per_epoch, epochs = steps_per_pass, cfg.train.epochs
    if cfg.train.eval_every:
        steps_per_epoch, epochs = cfg.train.eval_every, interval_count(cfg, steps_per_pass)
    controls = _controls(cfg, ds, run_dir, epochs, steps_per_epoch)
    checkpoint = Checkpoint(run_dir, cfg, early_stopping=early_stopping, restore_from=restore_from,
                            controls=[c for c in controls if hasattr(c, "get_state")], epochs=epochs,
                            data_sha256=ds.content_sha256())
    if not plan.distributed:  # a strategy's fit builds them itself, symbolically
        build_training_state(model, ds, cfg.train.batch_size)
    with plan.scope():  # restoring builds the optimizer's variables
        initial_epoch = checkpoint.restore(model)  # 0 for a new run
    if cfg.train.grad_guard and not plan.distributed:
        controls.insert(0, GradGuard(cfg, checkpoint.history))
    # the checkpoint comes after EarlyStopping and the controls, so each checkpoint holds their decisions
    shown = progress.Progress(epochs, steps_per_epoch, progress.mode_for(verbose, sys.stderr))
    # the live line is wiped before the controls print (samples, warnings) and rewritten last, with all they logged
    callbacks = [EpochTimer(), shown.clearer(), *([early_stopping] if early_stopping else []), *controls, checkpoint]
    # after the checkpoint: TensorBoard sees the scheduled learning rate and the epoch's line shows what was saved
    callbacks += [*tensorboard_log.callbacks(cfg, ds, run_dir, gradients=not plan.distributed), shown]
    if plan.distributed:  # global batches sharded over workers, split over replicas
        data = distribute.fit_data(plan, ds, cfg, initial_epoch)
    else:
        if cfg.train.eval_every:  # an endless seeded stream, cut into intervals
            x = interval_dataset(ds.x_train, ds.y_train, cfg, steps_per_pass, initial_epoch * steps_per_epoch)
        else:  # epochs initial_epoch.. in one stream, each epoch's batches drawn from (seed, epoch), bucketed where exact
            x = pipeline.epochs_dataset(ds.x_train, ds.y_train, cfg, initial_epoch)
        data = dict(
            x=x,
            steps_per_epoch=steps_per_epoch,  # so Keras reads the stream on, epoch after epoch
            shuffle=False,  # the dataset already is, by the run's seed
            validation_data=(ds.x_val, ds.y_val) if ds.has_val else None,
            validation_batch_size=cfg.train.batch_size,
        )
        if ds.extra.get("class_weight"):  # labelled text with class_weights: balanced
            data["class_weight"] = ds.extra["class_weight"]
    with distribute.peer_failures(plan):
        model.fit(
            **data,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=0,  # progress.Progress writes the lines
        )
    history = checkpoint.history  # every epoch, including those before a resume

    metrics = evaluate_model(model, ds, cfg.train.batch_size)
    metrics["epochs_run"] = len(history["loss"])
    metrics.update(_stop_record(cfg, history, early_stopping, controls))
    metrics["parameters"] = int(model.count_params())
    metrics["precision"] = cfg.train.precision
    # the median ignores the first epoch's one-off graph tracing
    metrics["seconds_per_epoch"] = float(np.median(history["seconds"]))
    atomic_write(run_dir / "model.keras", model.save)
    if "vocabulary" in ds.extra:  # labelled text: a model that reads raw strings, and its vocabulary
        from rnn_recipes.vectorizer import save_run_files

        save_run_files(run_dir, model, cfg.data, ds.extra["vocabulary"], ds.extra["class_names"])
    write_text(run_dir / "history.csv", _history_csv(history))
    write_json(run_dir / "metrics.json", metrics)
    write_text(run_dir / "summary.txt", summary_text(model) + "\n")
    write_json(run_dir / "versions.json", _versions())
    if cfg.output.plots:
        plots.learning_curves(history, run_dir / "curves.png", title=cfg.name)
        if "classification" in metrics:
            plots.confusion(metrics["classification"]["confusion"], metrics["class_names"], run_dir / "confusion.png", title=cfg.name)
        if tasks.of(ds.spec).prediction_plot:
            forecast.plot_test_period(model, ds, cfg.train.batch_size, run_dir / "predictions.png", title=cfg.name)
        if cfg.model.attention != "none":  # seq2seq: where the decoder looked, for a few test sources
            plots.attention_examples(model, ds, run_dir)
    write_manifest(run_dir)
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}), file=sys.stderr)
    distribute.report_weights(plan, model)
    return metrics
