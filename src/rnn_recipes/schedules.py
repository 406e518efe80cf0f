"""Learning-rate schedules as pure functions of the optimizer step, and a time budget's arithmetic.

The formulas are Keras' own (tests hold them to `keras.optimizers.schedules`):
cosine is `CosineDecay` with a linear warm-up from 0 (`warmup_target`), linear
is `PolynomialDecay(power=1)`, step is `ExponentialDecay(staircase=True)`.
They are evaluated here, outside the optimizer, because a time budget changes
the length of the run while it trains: the cosine then spans the steps that
the budget is predicted to allow, re-estimated after every epoch. The
optimizer keeps a plain learning rate, set before every step by
`controls.LearningRate`, so a saved model holds nothing Keras cannot load.

May import: config.
"""

from __future__ import annotations

import math

from rnn_recipes.config import CosineSchedule, LinearSchedule, StepSchedule

PER_STEP = ("cosine", "linear", "step")  # the kinds that are a function of the step; plateau reacts to the loss


def lr_factor(schedule, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """The learning rate at optimizer step `step` (0-based), as a fraction of `train.learning_rate`.

    Args:
        schedule: a `train.lr_schedule` section of a per-step kind (cosine, linear, step).
        step: the optimizer's step count before the update (`optimizer.iterations`).
        total_steps: the steps the whole run takes (or is predicted to take, under a budget).
        steps_per_epoch: optimizer steps per epoch (per interval with `train.eval_every`).

    Example:
        >>> lr_factor(CosineSchedule(warmup=0.1, floor=0.1), 5, 100, 10)  # half-way up the warm-up
        0.5
    """
    total_steps = max(int(total_steps), 1)
    if isinstance(schedule, CosineSchedule):
        warmup = round(schedule.warmup * total_steps)
        if step < warmup:
            return step / warmup
        decay_steps = max(total_steps - warmup, 1)
        done = min(step - warmup, decay_steps) / decay_steps
        return (1 - schedule.floor) * 0.5 * (1 + math.cos(math.pi * done)) + schedule.floor
    if isinstance(schedule, LinearSchedule):
        done = min(step, total_steps) / total_steps
        return (1 - schedule.floor) * (1 - done) + schedule.floor
    if isinstance(schedule, StepSchedule):
        return schedule.factor ** (step // (schedule.every * steps_per_epoch))
    raise ValueError(f"{schedule.kind} is not a per-step schedule; expected one of: {', '.join(PER_STEP)}")


# --- a time budget ----------------------------------------------------------------


def epoch_estimate(seconds: list[float]) -> float:
    """Predicted wall-clock seconds of the next epoch: the mean of the last (up to) three.

    The caller leaves out of each session's first epoch the one-off time of
    its first step, which traces and compiles the step function.

    Example:
        >>> epoch_estimate([9.0, 2.0, 2.2, 1.8, 2.0])
        2.0
    """
    if not seconds:
        raise ValueError("no epoch has finished yet")
    recent = seconds[-3:]
    return sum(recent) / len(recent)


def epochs_that_fit(done: int, used: float, budget: float, estimate: float, cap: int) -> int:
    """How many epochs the run will have trained when the budget stops it (at most `cap`).

    An epoch starts only if it is predicted to end within the budget.

    Example:
        >>> epochs_that_fit(done=2, used=25.0, budget=60.0, estimate=10.0, cap=100)
        5
    """
    more = math.floor(max(budget - used, 0.0) / estimate) if estimate > 0 else cap
    return min(cap, done + more)
