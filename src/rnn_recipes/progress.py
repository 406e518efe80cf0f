"""Training progress that fits the terminal: one live line per epoch with its ETA, a kept line every few epochs, plain lines in logs.

Modes, chosen by `mode_for(verbose, stream)`:

- `live` (a terminal): the current epoch's line is rewritten in place as
  batches finish (steps done, loss, ETA of the epoch and of the run); a line
  is kept every `keep_every(epochs)` epochs (every epoch up to 20), so a run
  of 150 epochs leaves about 20 lines;
- `lines` (not a terminal: CI logs, a file; or `--verbose`): one plain line per epoch;
- `quiet` (`--quiet`): nothing.

`final_line` is the run's last line: where it is, and its headline metric
beside the baseline that gives it meaning.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, TextIO

from rnn_recipes.backend import import_keras

keras = import_keras()

MODES = ("live", "lines", "quiet")
KEPT_LINES = 20  # about this many lines stay on a terminal, however many epochs
REFRESH = 0.1  # seconds between rewrites of the live line
HIDDEN = ("seconds",)  # logs shown elsewhere (the epoch's time is printed on its own)


def mode_for(verbose: int | None, stream: TextIO) -> str:
    """None: `live` on a terminal, `lines` otherwise; 0 `quiet`, 1 `live`, 2 `lines` (Keras' verbosity numbers)."""
    if verbose is None:
        return "live" if stream.isatty() else "lines"
    return {0: "quiet", 1: "live"}.get(verbose, "lines")


def keep_every(epochs: int) -> int:
    """Epochs between lines kept on a terminal: 1 up to `KEPT_LINES` epochs, then about `KEPT_LINES` lines in all.

    Example:
        >>> keep_every(15), keep_every(150), keep_every(1000)
        (1, 8, 50)
    """
    return 1 if epochs <= KEPT_LINES else math.ceil(epochs / KEPT_LINES)


def duration(seconds: float) -> str:
    """A short duration: `42s`, `3m05s`, `1h02m`.

    Example:
        >>> duration(4.2), duration(185), duration(3725)
        ('4s', '3m05s', '1h02m')
    """
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def metrics_text(logs: dict | None) -> str:
    """`loss 0.1234  accuracy 0.5` from a Keras logs dict, in its order.

    Example:
        >>> metrics_text({"loss": 0.123456, "val_loss": 2.0, "seconds": 1.0})
        'loss 0.1235  val_loss 2'
    """
    return "  ".join(f"{k} {v:.4g}" for k, v in (logs or {}).items()
                     if k not in HIDDEN and isinstance(v, (int, float)))


class Progress(keras.callbacks.Callback):
    """Training progress in one of `MODES` (see the module docstring).

    Args:
        epochs: the epochs the run asks for (the last epoch's number).
        steps: batches per epoch (None when unknown: no per-epoch ETA).
        mode: live, lines or quiet.
        stream: where the lines go.
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, epochs: int, steps: int | None, mode: str, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"Invalid progress mode. Expected one of: {', '.join(MODES)}. Received: {mode!r}.")
        self.epochs, self.steps, self.mode, self.clock = epochs, steps, mode, clock
        self.stream = stream if stream is not None else sys.stderr
        self.every = keep_every(epochs)
        self._open = False  # a live line is on screen, not yet ended by a newline
        self._epoch_times: list[float] = []

    def _write(self, text: str, keep: bool) -> None:
        if self.mode == "live":
            width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
            self.stream.write("\r" + text[:width].ljust(width) + ("\n" if keep else ""))
            self._open = not keep
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _prefix(self, epoch: int) -> str:
        return f"epoch {epoch + 1:>{len(str(self.epochs))}}/{self.epochs}"

    def _run_eta(self, epoch: int, into_epoch: float) -> float:
        per_epoch = sum(self._epoch_times) / len(self._epoch_times) if self._epoch_times else into_epoch
        return per_epoch * (self.epochs - epoch - 1)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._start, self._shown = epoch, self.clock(), -math.inf

    def on_train_batch_end(self, batch, logs=None):
        if self.mode != "live":
            return
        now = self.clock()
        if now - self._shown < REFRESH:
            return
        self._shown, done, spent = now, batch + 1, now - self._start
        parts = [self._prefix(self._epoch)]
        if self.steps:
            left = spent / done * (self.steps - done)
            parts.append(f"{done}/{self.steps}")
            eta = f"ETA {duration(left)}"
            if self._epoch + 1 < self.epochs:
                eta += f" (run {duration(left + self._run_eta(self._epoch, spent / done * self.steps))})"
            parts.append(eta)
        parts.append(metrics_text(logs))
        self._write("  ".join(p for p in parts if p), keep=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.mode == "quiet":
            return
        spent = self.clock() - self._start
        self._epoch_times.append(spent)
        text = f"{self._prefix(epoch)}  {metrics_text(logs)}  {spent:.1f}s"
        keep = self.mode == "lines" or (epoch + 1) % self.every == 0 or epoch + 1 == self.epochs or epoch == 0
        if self.mode == "live" and not keep and epoch + 1 < self.epochs:
            text += f"  ETA {duration(self._run_eta(epoch, spent))}"
        self._write(text, keep=keep)

    def clear(self) -> None:
        """Wipe an open live line, so what another callback prints starts on a clean line."""
        if self._open:
            width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
            self.stream.write("\r" + " " * width + "\r")
            self.stream.flush()
            self._open = False

    def clearer(self) -> keras.callbacks.Callback:
        """A callback to put before those that print at an epoch's end (samples, warnings): it calls `clear`."""
        progress = self

        class Clear(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                progress.clear()

        return Clear()

    def on_train_end(self, logs=None):
        if self._open:  # stopped early (patience, budget) on a line that was to be rewritten
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


def headline(metrics: dict) -> str:
    """A run's headline metric beside its baseline, from its metrics.json.

    Example:
        >>> headline({"split": "test", "accuracy": 0.985, "majority_baseline_accuracy": 0.505})
        'test accuracy 0.985 (majority class 0.505)'
        >>> headline({"split": "train", "accuracy": 0.38, "train_perplexity": 8.5, "val_perplexity": 9.75})
        'val perplexity 9.75 (train 8.5), accuracy 0.38 on train'
    """
    split = metrics.get("split", "test")
    if "verdict" in metrics:  # a forecast's own sentence, against persistence
        return str(metrics["verdict"])
    if "accuracy" in metrics and "majority_baseline_accuracy" in metrics:
        more = f", bag of words {metrics['bow_baseline_accuracy']:.3g}" if "bow_baseline_accuracy" in metrics else ""
        return (f"{split} accuracy {metrics['accuracy']:.3g} "
                f"(majority class {metrics['majority_baseline_accuracy']:.3g}{more})")
    for part in ("val", "test", "train"):
        if f"{part}_perplexity" in metrics:
            other = f" (train {metrics['train_perplexity']:.3g})" if part != "train" and "train_perplexity" in metrics else ""
            acc = f", accuracy {metrics['accuracy']:.3g} on {split}" if "accuracy" in metrics else ""
            return f"{part} perplexity {metrics[f'{part}_perplexity']:.3g}{other}{acc}"
    return f"{split} loss {metrics.get('loss', float('nan')):.4g}"


def final_line(run_dir: Path, metrics: dict) -> str:
    """The last line of `rnn train`: where the run is, and how it did against its baseline."""
    return f"done: {run_dir}  {headline(metrics)}"
