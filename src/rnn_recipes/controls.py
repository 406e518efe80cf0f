"""Training controls as Keras callbacks: the learning-rate schedule, a time budget, samples while training.

Each control that must survive a resume has a `name`, `get_state()` (plain
JSON values) and `set_state(state)`; `checkpoint.Checkpoint` saves them in
`state.json` with the epoch and restores them before training goes on, so a
resumed run continues its schedule, its budget and its samples exactly.

Order in the callbacks list (train.py): the controls come before the
checkpoint, so that each checkpoint holds their decision for its epoch;
`LearningRate` comes after `Plateau`, whose logged rate it renames `lr`.

May import: config, schedules, generate, fileio, backend.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np

from rnn_recipes.backend import import_keras
from rnn_recipes.config import Config
from rnn_recipes.fileio import write_text
from rnn_recipes.schedules import PER_STEP, epoch_estimate, epochs_that_fit, lr_factor

keras = import_keras()

SAMPLES = "samples.txt"


class TimeBudget(keras.callbacks.Callback):
    """Stop after the last epoch that fits `budget` seconds of training.

    After every epoch it predicts the next one's time (`schedules.epoch_estimate`:
    the mean of the last three) and stops unless that fits what is left, so no
    epoch starts that is predicted to overrun. The budget is spent from the
    start of `fit` to each epoch's end, so validation, checkpoints and samples
    count. The first epoch of a session (a new run or a resume) traces the step
    functions in its first training and first validation step, and with XLA
    compiles them again for the shorter last batch of a pass: its estimate
    leaves out the first and the last step of each. The first epoch always runs.

    Args:
        budget: seconds of training, across resumes.
        epochs: the cap (`train.epochs`, or the intervals with `train.eval_every`).
        steps_per_epoch: optimizer steps per epoch, to time the first epoch's steps.
    """

    name = "time_budget"

    def __init__(self, budget: float, epochs: int, steps_per_epoch: int):
        super().__init__()
        self.budget, self.epochs, self.steps_per_epoch = budget, epochs, steps_per_epoch
        self.seconds: list[float] = []  # each finished epoch's share of the budget
        self.used = 0.0
        self.stopped = False
        self.done = 0  # epochs finished, including those before a resume
        self._first_epoch_guess: float | None = None
        self._probe = min(steps_per_epoch - 1, 20)  # steps 1..probe time the first epoch (step 0 traces)

    def get_state(self) -> dict:
        return {"seconds": self.seconds, "used": self.used, "stopped": self.stopped}

    def set_state(self, state: dict) -> None:
        self.seconds, self.used, self.stopped = list(state["seconds"]), float(state["used"]), bool(state["stopped"])

    def predicted_epochs(self) -> int:
        """The epochs the run will have trained when it stops (the cosine schedule spans them)."""
        if self.seconds:
            estimate = epoch_estimate(self.seconds)
        elif self._first_epoch_guess is not None:
            estimate = self._first_epoch_guess
        else:
            return self.epochs
        return max(epochs_that_fit(self.done, self.used, self.budget, estimate, self.epochs), self.done + 1)

    def on_train_begin(self, logs=None):
        self._last = time.perf_counter()
        self._first_in_session, self._step1, self._step_last = True, None, None
        self._test_begin = self._test_end = None

    def on_epoch_begin(self, epoch, logs=None):
        self.done = epoch

    def on_train_batch_begin(self, batch, logs=None):
        last = self.steps_per_epoch - 1
        if not self._first_in_session or batch not in (1, self._probe, last):
            return
        now = time.perf_counter()
        if batch == last:  # the pass's last batch may be shorter: XLA compiles the step again for it
            self._step_last = now
        if batch == 1:  # the first step, which traced the step function, is done
            self._step1 = now
        elif not self.seconds and self._probe >= 2:  # a guess of the first epoch, until a whole one is timed
            self._first_epoch_guess = (now - self._step1) / (self._probe - 1) * self.steps_per_epoch

    # validation traces its own step function in the session's first epoch: time it the same way
    def on_test_begin(self, logs=None):
        self._test_begin, self._test_batches, self._test1 = time.perf_counter(), 0, None

    def on_test_batch_begin(self, batch, logs=None):
        self._test_batches += 1
        if batch == 1:
            self._test1 = time.perf_counter()
        self._test_last = time.perf_counter()  # the last batch's begin, once validation ends

    def on_test_end(self, logs=None):
        self._test_end = time.perf_counter()

    def _untraced(self, now: float) -> float:
        """The session's first epoch as a later one would take: without the steps that traced or compiled.

        Training and validation are each timed from the begin of their second
        step to the begin of their last (or to their end, when they are too
        short for that) and scaled to all their steps.
        """
        steps = self.steps_per_epoch
        train_end = self._test_begin or now
        if steps >= 3 and self._step_last is not None:
            took = (self._step_last - self._step1) * steps / (steps - 2)
        else:
            took = (train_end - self._step1) * steps / (steps - 1)
        if self._test_begin is not None:
            n = self._test_batches
            if n >= 3:
                took += (self._test_last - self._test1) * n / (n - 2)
            else:
                took += (self._test_end - self._test1) * n / (n - 1) if self._test1 is not None else self._test_end - self._test_begin
        return took + (now - (self._test_end or train_end))

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        took = now - self._last
        self.used += took
        if self._first_in_session and self._step1 is not None:
            took = min(took, self._untraced(now))
        self.seconds.append(took)
        self._first_in_session = False
        self._test_begin = self._test_end = None
        self._last = now
        self.done = epoch + 1
        if self.done < self.epochs and epoch_estimate(self.seconds) > self.budget - self.used:
            self.model.stop_training = True
            self.stopped = True


class LearningRate(keras.callbacks.Callback):
    """Set a per-step schedule's learning rate before every step, and log each epoch's rate as `lr`.

    The step is the optimizer's `iterations`, which the checkpoint restores, so
    a resumed run continues the schedule exactly. `lr` is the rate of the
    epoch's last step (for plateau, the rate the epoch trained with).

    Args:
        cfg: the run config (`train.lr_schedule`, `train.learning_rate`).
        epochs: epochs (intervals) of the whole run.
        steps_per_epoch: optimizer steps per epoch (interval).
        budget: a time budget: the schedule then spans the epochs it is predicted to allow.
    """

    def __init__(self, cfg: Config, epochs: int, steps_per_epoch: int, budget: TimeBudget | None = None):
        super().__init__()
        self.schedule, self.base = cfg.train.lr_schedule, cfg.train.learning_rate
        self.per_step = self.schedule.kind in PER_STEP
        self.epochs, self.steps_per_epoch, self.budget = epochs, steps_per_epoch, budget
        self._step = 0
        self._lr: float | None = None

    def total_steps(self) -> int:
        epochs = self.budget.predicted_epochs() if self.budget is not None else self.epochs
        return epochs * self.steps_per_epoch

    def lr_at(self, step: int) -> float:
        return self.base * lr_factor(self.schedule, step, self.total_steps(), self.steps_per_epoch)

    def on_train_begin(self, logs=None):
        self._step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_batch_begin(self, batch, logs=None):
        if not self.per_step:
            return
        lr = self.lr_at(self._step)
        if lr != self._lr:  # a step schedule changes a few times a run: assign only then
            self.model.optimizer.learning_rate = lr
            self._lr = lr

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logged = logs.pop("learning_rate", None)  # ReduceLROnPlateau's name for it
            logs["lr"] = logged if logged is not None else float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class Plateau(keras.callbacks.ReduceLROnPlateau):
    """Keras' ReduceLROnPlateau, whose counters and current rate survive a resume."""

    name = "plateau"

    def __init__(self, cfg: Config, has_val: bool):
        s = cfg.train.lr_schedule
        super().__init__(
            monitor="val_loss" if has_val else "loss",
            factor=s.factor,
            patience=s.patience,
            min_lr=s.floor * cfg.train.learning_rate,
        )
        self._saved: dict | None = None

    def get_state(self) -> dict:
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        best = None if self.best is None or not np.isfinite(self.best) else float(self.best)
        return {"wait": int(self.wait), "cooldown_counter": int(self.cooldown_counter), "best": best, "lr": lr}

    def set_state(self, state: dict) -> None:
        self._saved = state

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)  # resets the counters...
        if self._saved is not None:  # ...to those of the checkpoint
            s = self._saved
            self.wait, self.cooldown_counter = s["wait"], s["cooldown_counter"]
            if s["best"] is not None:
                self.best = s["best"]
            self.model.optimizer.learning_rate = s["lr"]


def make_schedule(cfg: Config, has_val: bool, epochs: int, steps_per_epoch: int,
                  budget: TimeBudget | None) -> list[keras.callbacks.Callback]:
    """The callbacks that run `train.lr_schedule` and log `lr`, in their order."""
    lr = LearningRate(cfg, epochs, steps_per_epoch, budget)
    return [Plateau(cfg, has_val), lr] if cfg.train.lr_schedule.kind == "plateau" else [lr]


# --- samples while training --------------------------------------------------------


class Samples(keras.callbacks.Callback):
    """Every `every` epochs (intervals), print a short greedy and a sampled continuation, and keep them in samples.txt.

    The seed is the start of the validation text (else of the training text),
    so samples of different epochs compare; the sampled one draws from a
    generator seeded by (seed, epoch), so a resumed run writes the same text.
    samples.txt is rewritten whole (atomically) after each sample; on a resume,
    entries past the checkpoint are dropped before new ones are added.
    """

    LENGTH = {"char": 120, "word": 30}
    TEMPERATURE = 0.7
    HEADER = re.compile(r"^--- epoch (\d+) ---$", re.M)

    def __init__(self, cfg: Config, run_dir: Path, vocab: list[str], level: str, x_seed: np.ndarray):
        super().__init__()
        self.cfg, self.path, self.vocab, self.level = cfg, Path(run_dir) / SAMPLES, vocab, level
        self.every = cfg.output.sample_every
        self.seed_ids = [int(i) for i in np.asarray(x_seed).reshape(-1)[: cfg.data.seq_length]]
        self.mode = "stateful" if cfg.data.objective == "many_to_many" else "window"
        self._entries: list[tuple[int, str]] | None = None

    def _text(self, ids) -> str:
        from rnn_recipes.codec import detokenize

        return "".join(detokenize(self.vocab[i], self.level, first=(n == 0)) for n, i in enumerate(ids))

    def _load(self, completed: int) -> list[tuple[int, str]]:
        if not self.path.is_file():
            return []
        text = self.path.read_text(encoding="utf-8")
        marks = list(self.HEADER.finditer(text))
        entries = [(int(m[1]), text[m.start(): marks[i + 1].start() if i + 1 < len(marks) else len(text)])
                   for i, m in enumerate(marks)]
        return [(e, t) for e, t in entries if e <= completed]

    def on_epoch_begin(self, epoch, logs=None):
        if self._entries is None:
            self._entries = self._load(epoch)

    def sample(self, epoch: int) -> str:
        """The entry for after `epoch` (1-based) epochs: the seed, a greedy and a sampled continuation."""
        from rnn_recipes.engine import Engine, generate

        engine, n = Engine(self.model), self.LENGTH[self.level]
        lines = [f"--- epoch {epoch} ---", f"seed:   {self._text(self.seed_ids)!r}"]
        for label, temperature in (("greedy", 0.0), (f"t={self.TEMPERATURE}", self.TEMPERATURE)):
            rng = np.random.default_rng([self.cfg.seed, epoch])
            ids = generate(engine, self.seed_ids, n, mode=self.mode, window=self.cfg.data.seq_length,
                           temperature=temperature, top_k=None, rng=rng)
            lines.append(f"{label + ':':7} {self._text(list(ids))!r}")
        return "\n".join(lines) + "\n"

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        entry = self.sample(epoch + 1)
        print(entry, end="", file=sys.stderr)
        self._entries = [*(self._entries or []), (epoch + 1, entry)]
        write_text(self.path, "".join(text for _, text in self._entries))
