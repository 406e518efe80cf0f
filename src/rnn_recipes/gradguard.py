"""The gradient-health guard: each epoch's gradient norm before clipping and share of clipped steps, with a remedy.

The norm is measured inside the compiled train step, where the optimizer
clips (`Optimizer._clip_gradients`, a Keras internal reached only through
`compat.observe_gradient_clipping`, held by a test that fails on an upgrade
that renames it). The instance's method is wrapped, not the class, so the
saved model still names Keras' own optimizer. The running sums live in
variables outside the optimizer (its checkpointed state stays the same) and
are read once per epoch, so the guard adds no synchronisation per step.
It is opt-in (`train.grad_guard: true`): docs/recipes.md records its measured cost.

`diagnose.py` measures the same two quantities (global norm before and after
clipping) on one batch, offline; this guard follows them through a run.

May import: backend, compat, config.
"""

from __future__ import annotations

import math
import sys

from rnn_recipes import compat
from rnn_recipes.backend import import_keras
from rnn_recipes.config import Config

keras = import_keras()

CLIPPED_TOO_OFTEN = 0.9  # clipping on more steps than this: the clip, not the gradient, sets the step
GROWTH = 10.0  # an epoch's mean norm this many times the smallest so far: exploding


class GradStats:
    """Running sums over the steps of one epoch, updated inside the train step."""

    def __init__(self):
        import tensorflow as tf

        def var(name):
            return tf.Variable(0.0, trainable=False, dtype=tf.float32, name=f"grad_guard_{name}")

        self.norm_sum, self.steps, self.clipped, self.nonfinite = (
            var(n) for n in ("norm_sum", "steps", "clipped", "nonfinite")
        )
        self.last_norm = var("last_norm")

    def update(self, norm, clipped) -> None:
        import tensorflow as tf

        finite = tf.math.is_finite(norm)
        self.norm_sum.assign_add(tf.where(finite, norm, 0.0))
        self.last_norm.assign(norm)
        self.steps.assign_add(1.0)
        self.clipped.assign_add(tf.cast(clipped, tf.float32))
        self.nonfinite.assign_add(tf.cast(tf.logical_not(finite), tf.float32))

    def read_and_reset(self) -> dict[str, float]:
        values = {k: float(getattr(self, k).numpy()) for k in ("norm_sum", "steps", "clipped", "nonfinite")}
        for k in ("norm_sum", "steps", "clipped", "nonfinite"):
            getattr(self, k).assign(0.0)
        return values


def _dense(g):
    import tensorflow as tf

    # an embedding's gradient arrives as IndexedSlices: its rows' values (a row hit twice counts twice)
    return g.values if isinstance(g, tf.IndexedSlices) else g


def install(optimizer, clipnorm: float | None, clipvalue: float | None) -> GradStats:
    """Wrap `optimizer`'s clipping so every step adds its gradient norm and whether it clipped to the stats."""
    import tensorflow as tf

    stats = GradStats()

    def observe(grads):
        present = [tf.cast(_dense(g), tf.float32) for g in grads if g is not None]
        squares = tf.stack([tf.reduce_sum(tf.square(g)) for g in present])
        norm = tf.sqrt(tf.reduce_sum(squares))
        if clipnorm:  # Keras clips each gradient to clipnorm on its own
            clipped = tf.reduce_any(squares > clipnorm**2)
        elif clipvalue:
            clipped = tf.reduce_any(tf.stack([tf.reduce_max(tf.abs(g)) for g in present]) > clipvalue)
        else:
            clipped = tf.constant(False)
        stats.update(norm, clipped)

    compat.observe_gradient_clipping(optimizer, observe)
    return stats


def trouble(epoch: int, norms: list[float], clipped_frac: float, nonfinite: int, steps: int, cfg: Config) -> tuple[str, str] | None:
    """(kind, one line with a remedy) when an epoch's numbers show trouble, else None.

    Args:
        epoch: the epoch (1-based) the numbers are from.
        norms: the mean gradient norm of every epoch so far, this one last.
        clipped_frac: the share of this epoch's steps where clipping changed a gradient.
        nonfinite: steps whose gradient norm was NaN or infinite.
        steps: the epoch's steps.
        cfg: the run config (its learning rate and clipping go into the remedy).
    """
    t = cfg.train
    if nonfinite:
        return "nonfinite", (f"the gradient norm was NaN or infinite in {nonfinite} of {steps} steps of epoch {epoch}: "
                             f"lower train.learning_rate (now {t.learning_rate:g}) or set train.clipnorm: 1.0")
    if clipped_frac >= CLIPPED_TOO_OFTEN:
        what = f"clipnorm {t.clipnorm:g}" if t.clipnorm else f"clipvalue {t.clipvalue:g}"
        return "clipped", (f"clipping ({what}) fired on {clipped_frac:.0%} of the steps of epoch {epoch}, so it, not the "
                           f"gradient, sets each step: lower train.learning_rate (now {t.learning_rate:g}) to about "
                           f"{t.learning_rate / 3:.2g}")
    finite = [n for n in norms[:-1] if math.isfinite(n) and n > 0]
    if finite and norms[-1] > GROWTH * min(finite):
        low = min(finite)
        remedy = "set train.clipnorm: 1.0" if not (t.clipnorm or t.clipvalue) else "lower train.clipnorm"
        return "exploding", (f"the gradient norm grew {norms[-1] / low:.0f}x (from {low:.3g} in epoch {norms.index(low) + 1} "
                             f"to {norms[-1]:.3g} in epoch {epoch}): {remedy}, or lower train.learning_rate "
                             f"(now {t.learning_rate:g})")
    return None


class GradGuard(keras.callbacks.Callback):
    """Log `grad_norm` (the epoch's mean global norm before clipping) and `clipped_frac`; warn once per kind of trouble.

    Put it before the checkpoint, so the two columns go into the history.
    """

    def __init__(self, cfg: Config, history: dict[str, list[float]] | None = None):
        super().__init__()
        self.cfg = cfg
        self.history = history  # the checkpoint's: a resumed run compares with its earlier epochs
        self.norms: list[float] = []
        self.warned: set[str] = set()
        self.stats: GradStats | None = None

    def on_train_begin(self, logs=None):
        if self.stats is None:
            self.stats = install(self.model.optimizer, self.cfg.train.clipnorm, self.cfg.train.clipvalue)
        self.norms = list((self.history or {}).get("grad_norm", []))

    def on_epoch_end(self, epoch, logs=None):
        s = self.stats.read_and_reset()
        steps = max(s["steps"], 1.0)
        finite_steps = max(s["steps"] - s["nonfinite"], 1.0)
        norm, frac = s["norm_sum"] / finite_steps, s["clipped"] / steps
        self.norms.append(norm)
        if logs is not None:
            logs["grad_norm"], logs["clipped_frac"] = norm, frac
        found = trouble(epoch + 1, self.norms, frac, int(s["nonfinite"]), int(s["steps"]), self.cfg)
        if found and found[0] not in self.warned:
            self.warned.add(found[0])
            print(f"warning: {found[1]}", file=sys.stderr)
