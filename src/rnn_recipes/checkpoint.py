"""Resumable training: an epoch-end checkpoint inside the run directory, and its restore.

After every completed epoch, `Checkpoint` writes to `RUN/checkpoint/`:
`epoch-NNNN.keras` (weights and optimizer state), `best-NNNN.npz` (early
stopping's best weights, when it keeps them) and, last, `state.json`, which
names those files with their sha256 and holds the completed epoch count, the
history so far, early stopping's counters and the config fingerprint. Each
file is written to a temporary file and moved into place; files that
state.json no longer names are removed only after it is replaced. A kill at
any instant therefore leaves the previous checkpoint whole, and
`rnn train --resume RUN` continues from it.

Keras' BackupAndRestore is not used: it writes in place, and with
TerminateOnNaN it deletes the last good checkpoint.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from rnn_recipes.backend import import_keras
from rnn_recipes.checkpoint_state import (
    CHECKPOINT, REPLACES, STATE, check_resumable, fingerprint, fingerprint_hash, read_state, resume_command,
)
from rnn_recipes.compat import restore_early_stopping
from rnn_recipes.config import Config
from rnn_recipes.errors import RunError
from rnn_recipes.fileio import atomic_write, sha256_file, write_json
from rnn_recipes.safeload import check_keras_file
from rnn_recipes.signals import deferred_signals

keras = import_keras()

class NonFiniteLoss(RunError):
    """The loss became NaN or infinite; the message says what was kept and how to go on."""


def _verified(path: Path, digest: str) -> Path:
    if not path.is_file() or sha256_file(path) != digest:
        raise RunError(f"{path} is missing or changed; the checkpoint cannot be trusted")
    return path


class Checkpoint(keras.callbacks.Callback):
    """Write a resumable checkpoint after every epoch, and stop on a NaN or infinite loss.

    Put it after EarlyStopping and the training controls in the callbacks list,
    so each checkpoint holds that epoch's decisions.

    Args:
        run_dir: the run directory; the checkpoint lives in its `checkpoint/`.
        cfg: the run's config (its fingerprint is checked on restore).
        early_stopping: the run's EarlyStopping callback, whose counters and
            best weights are saved and restored with the model.
        restore_from: the run directory to resume from, if not `run_dir`.
        controls: callbacks with `name`, `get_state()` and `set_state()` (see
            controls.py), whose state is saved and restored with the model.
        epochs: the epochs `fit` runs (the intervals with `train.eval_every`);
            default `train.epochs`.

    It also picks the epoch to start from: `model.fit(..., initial_epoch=
    ckpt.restore(model), callbacks=[ckpt])`; then `ckpt.history["loss"]` holds
    every epoch, including those before the resume.
    """

    def __init__(
        self,
        run_dir: Path,
        cfg: Config,
        early_stopping: keras.callbacks.EarlyStopping | None = None,
        restore_from: Path | None = None,
        controls: tuple = (),
        epochs: int | None = None,
        data_sha256: str | None = None,
    ):
        super().__init__()
        self.data_sha256 = data_sha256  # the data's content hash, so a resume on changed data is refused
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / CHECKPOINT
        # a multi-worker peer saves to its scratch directory but resumes from the chief's run
        self.source = Path(restore_from) if restore_from is not None else self.run_dir
        self.cfg = cfg
        self.early_stopping = early_stopping
        self.controls = tuple(controls)
        self.epochs = epochs if epochs is not None else cfg.train.epochs
        self.history: dict[str, list[float]] = {}
        self.epoch = 0  # completed epochs
        self.initial_epoch = 0  # where fit starts: past the end when early stopping already ended the run
        self._current = 0
        self._es_restored: dict | None = None
        self._best: tuple[int, str, str] | None = None  # (epoch, file, sha256) of the saved best weights

    # --- restore ---------------------------------------------------------------

    def restore(self, model: keras.Model) -> int:
        """Load the last checkpoint into the compiled `model`, if there is one; return the initial epoch."""
        state = read_state(self.source)
        if state is None:
            return 0
        epochs = self.epochs
        check_resumable(self.source, state, self.cfg, epochs=epochs, data_sha256=self.data_sha256)
        source = self.source / CHECKPOINT
        path = _verified(source / state["model"], state["model_sha256"])
        check_keras_file(path)
        model.optimizer.build(model.trainable_variables)  # so load_weights restores the optimizer state too
        try:
            model.load_weights(path)
        except (ValueError, KeyError, OSError) as exc:  # weights of another shape: the checkpoint does not fit
            raise RunError(f"{path}: the checkpoint does not fit this model ({' '.join(str(exc).split())[:200]}); start a new run") from None
        model.optimizer.learning_rate = self.cfg.train.learning_rate  # a safe edit applies from here on
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = state["epoch"]
        es = state.get("early_stopping")
        if es is not None and self.early_stopping is not None:
            weights = None
            if es.get("best_weights"):
                best = _verified(source / es["best_weights"], es["best_sha256"])
                with np.load(best, allow_pickle=False) as z:
                    weights = [z[f"arr_{i}"] for i in range(len(z.files))]
                self._best = (es["best_epoch"], es["best_weights"], es["best_sha256"])
            self._es_restored = {**es, "best_weights": weights}
        saved = state.get("controls") or {}
        for control in self.controls:
            if control.name in saved:
                control.set_state(saved[control.name])
        # the resumed epochs should not replay the dropout masks of the first ones
        keras.utils.set_random_seed(self.cfg.seed + self.epoch)
        self.initial_epoch = max(self.epoch, epochs) if state.get("stopped") else self.epoch
        print(f"resuming {self.source} after epoch {self.epoch} of {epochs}", file=sys.stderr)
        return self.initial_epoch

    def on_train_begin(self, logs=None):
        es, saved = self.early_stopping, self._es_restored
        if es is not None and saved is not None:  # EarlyStopping.on_train_begin has just reset these
            restore_early_stopping(es, saved)

    # --- every batch and epoch ----------------------------------------------------

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise self._non_finite("loss", float(loss), f"epoch {self._current + 1}, batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        for key in ("loss", "val_loss"):
            if key in logs and not math.isfinite(logs[key]):
                raise self._non_finite(key, logs[key], f"epoch {epoch + 1}")
        # a column that starts or stops at a resume (e.g. grad_guard switched) is NaN where it has no value
        for k in {**dict.fromkeys(self.history), **logs}:
            self.history.setdefault(k, [math.nan] * epoch).append(logs.get(k, math.nan))
        self.epoch = epoch + 1
        self.save()

    def _non_finite(self, key: str, value: float, where: str) -> NonFiniteLoss:
        fix = "lower train.learning_rate or set train.clipnorm"
        if self.epoch:
            resume = f"{resume_command(self.run_dir)} --set train.clipnorm=1.0"
            kept = f"the checkpoint after epoch {self.epoch} is kept; {fix}, then `{resume}`"
        else:
            kept = f"no epoch had finished, so there is no checkpoint; {fix}"
        return NonFiniteLoss(f"{key} became {value} in {where}; training stopped and {kept}")

    # --- saving --------------------------------------------------------------------

    def save(self) -> None:
        """Write the checkpoint of `self.epoch` completed epochs; SIGINT/SIGTERM wait until it is whole."""
        with deferred_signals():
            try:
                self._save()
            except RunError as exc:  # e.g. the disk filled up: the previous checkpoint is still whole
                previous = read_state(self.run_dir)
                kept = f"the checkpoint after epoch {previous['epoch']} is kept" if previous else "no checkpoint is kept"
                raise RunError(f"{exc}; {kept}; fix that, then `{resume_command(self.run_dir)}`") from None

    def _save(self) -> None:
        self.dir.mkdir(exist_ok=True)
        name = f"epoch-{self.epoch:04d}.keras"
        atomic_write(self.dir / name, self.model.save)
        state = {
            "epoch": self.epoch,
            "model": name,
            "model_sha256": sha256_file(self.dir / name),
            "stopped": bool(self.model.stop_training),
            "history": self.history,
            "config_hash": fingerprint_hash(self.cfg),
            "fingerprint": fingerprint(self.cfg),
            **({"data_sha256": self.data_sha256} if self.data_sha256 else {}),
        }
        keep = {name, STATE, REPLACES}
        es = self.early_stopping
        if es is not None:
            state["early_stopping"] = self._early_stopping_state(es)
            keep.add(state["early_stopping"]["best_weights"])
        if self.controls:
            state["controls"] = {control.name: control.get_state() for control in self.controls}
        write_json(self.dir / STATE, state)  # the commit point
        for path in self.dir.iterdir():  # older checkpoints and temporary files of killed runs
            if path.name not in keep:
                path.unlink(missing_ok=True)

    def _early_stopping_state(self, es: keras.callbacks.EarlyStopping) -> dict:
        if es.best_weights is not None and (self._best is None or self._best[0] != es.best_epoch):
            name = f"best-{es.best_epoch + 1:04d}.npz"
            atomic_write(self.dir / name, lambda tmp: np.savez(tmp, *es.best_weights))
            self._best = (es.best_epoch, name, sha256_file(self.dir / name))
        best = self._best if es.best_weights is not None else None
        return {
            "wait": int(es.wait),
            "best": None if es.best is None else float(es.best),
            "best_epoch": int(es.best_epoch),
            "stopped_epoch": int(es.stopped_epoch),
            "best_weights": best[1] if best else None,
            "best_sha256": best[2] if best else None,
        }
