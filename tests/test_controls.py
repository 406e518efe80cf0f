"""Training controls: learning-rate schedules, time budget, eval_every intervals, samples, the gradient guard."""

from __future__ import annotations

import csv
import importlib
import json
import signal
import types

import numpy as np
import pytest

from conftest import TINY
from rnn_recipes.config import CosineSchedule, LinearSchedule, StepSchedule, parse_duration
from rnn_recipes.config_load import load_config
from rnn_recipes.errors import ConfigError, Interrupted
from rnn_recipes.schedules import epoch_estimate, epochs_that_fit, lr_factor

SINE = TINY / "sine_simple_rnn.yaml"
TEXT = TINY / "text_char_lstm.yaml"


def sine(*sets: str):
    return load_config(SINE, ["output.plots=false", *sets])


def history(run_dir) -> list[dict]:
    with open(run_dir / "history.csv") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def train(cfg, out=None, **kw):
    from rnn_recipes.train import train as train_run

    return train_run(cfg, out, verbose=0, **kw)


# --- schedules: Keras' formulas --------------------------------------------------------


def test_schedules_follow_keras_own():
    from rnn_recipes.backend import import_keras

    keras = import_keras()
    s = keras.optimizers.schedules
    lr, total, per_epoch = 0.01, 200, 20
    cases = [
        # cosine: linear warm-up from 0 to lr over 5% of the steps, then CosineDecay to floor * lr
        (CosineSchedule(warmup=0.05, floor=0.1),
         s.CosineDecay(0.0, decay_steps=190, alpha=0.1, warmup_target=lr, warmup_steps=10)),
        (CosineSchedule(floor=0.0), s.CosineDecay(lr, decay_steps=total, alpha=0.0)),
        (LinearSchedule(floor=0.2), s.PolynomialDecay(lr, decay_steps=total, end_learning_rate=0.2 * lr, power=1.0)),
        (StepSchedule(every=3, factor=0.5), s.ExponentialDecay(lr, decay_steps=3 * per_epoch, decay_rate=0.5, staircase=True)),
    ]
    for ours, theirs in cases:
        for step in [0, 1, 5, 9, 10, 11, 50, 100, 189, 199, 200, 250]:
            expected = float(keras.ops.convert_to_numpy(theirs(step)))
            assert lr * lr_factor(ours, step, total, per_epoch) == pytest.approx(expected, rel=1e-5, abs=1e-9), (ours, step)


def test_a_budget_predicts_the_epochs_that_fit():
    assert epoch_estimate([9.0]) == 9.0
    assert epoch_estimate([9.0, 2.0, 3.0, 2.0, 1.0]) == 2.0  # the last three
    assert epochs_that_fit(done=1, used=9.0, budget=30.0, estimate=9.0, cap=100) == 3
    assert epochs_that_fit(done=3, used=29.0, budget=30.0, estimate=2.0, cap=100) == 3  # the next would overrun
    assert epochs_that_fit(done=3, used=10.0, budget=1e9, estimate=2.0, cap=8) == 8



def test_a_budget_times_the_first_epoch_without_the_steps_that_compile(monkeypatch):
    """The first step of training and of validation traces; with XLA, the shorter last batch of a pass compiles again."""
    from types import SimpleNamespace

    from rnn_recipes import controls

    clock = [0.0]
    monkeypatch.setattr(controls.time, "perf_counter", lambda: clock[0])
    budget = controls.TimeBudget(100.0, epochs=50, steps_per_epoch=10)
    budget.set_model(SimpleNamespace(stop_training=False))
    budget.on_train_begin()
    budget.on_epoch_begin(0)
    for step in range(10):  # 1 s a step, 8 s for the first and the last
        budget.on_train_batch_begin(step)
        clock[0] += 8.0 if step in (0, 9) else 1.0
    budget.on_test_begin()
    for step in range(5):  # 0.5 s a batch, 3 s for the first and the last
        budget.on_test_batch_begin(step)
        clock[0] += 3.0 if step in (0, 4) else 0.5
    budget.on_test_end()
    budget.on_epoch_end(0)
    assert budget.used == 31.5  # the budget pays for the compilations...
    assert budget.seconds == [pytest.approx(10 * 1.0 + 5 * 0.5)]  # ...the next epoch is predicted without them
    assert budget.predicted_epochs() == 1 + int((100.0 - 31.5) // 12.5) and not budget.stopped

# --- config -----------------------------------------------------------------------------


@pytest.mark.parametrize("value, seconds", [(90, 90.0), (1.5, 1.5), ("90s", 90.0), ("10m", 600.0), ("1h", 3600.0), (" 2.5 m", 150.0)])
def test_time_budget_reads_seconds_and_durations(value, seconds):
    assert parse_duration(value) == seconds


def write(tmp_path, train_lines: str):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  kind: sine\ntrain:\n" + train_lines)
    return path


@pytest.mark.parametrize("train_lines, expected", [
    ("  lr_schedule:\n    kind: linear\n    warmup: 0.1\n",
     "c.yaml:6: unknown key 'train.lr_schedule.warmup'. Expected one of: kind, floor."),
    ("  lr_schedule:\n    kind: cosine\n    wamup: 0.1\n",
     "c.yaml:6: unknown key 'train.lr_schedule.wamup'. Did you mean 'warmup'? Expected one of: kind, warmup, floor."),
    ("  lr_schedule: cosin\n",
     "c.yaml:4: invalid 'train.lr_schedule.kind'. Expected one of: constant, cosine, linear, step, plateau. Received: 'cosin'."),
    ("  lr_schedule:\n    kind: step\n    every: 0\n",
     "c.yaml:6: invalid 'train.lr_schedule.every': Input should be greater than or equal to 1. Received: 0."),
    ("  lr_schedule:\n    kind: cosine\n    floor: 1.5\n",
     "c.yaml:6: invalid 'train.lr_schedule.floor': Input should be less than or equal to 1. Received: 1.5."),
    ("  time_budget: -1\n",
     "c.yaml:4: train.time_budget: expected a positive number of seconds, or a duration such as 90s, 10m, 1h; received -1"),
    ("  time_budget: 10 parsecs\n",
     "c.yaml:4: train.time_budget: expected seconds, or a duration such as 90s, 10m, 1h; received '10 parsecs'"),
    ("  eval_every: 0\n", "c.yaml:4: invalid 'train.eval_every': Input should be greater than or equal to 1. Received: 0."),
])
def test_a_bad_control_is_one_line_with_its_key_and_line(tmp_path, train_lines, expected):
    path = write(tmp_path, train_lines)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path.parent}/{expected}"


def test_a_schedule_is_a_name_or_a_section_and_defaults_to_constant(tmp_path):
    assert sine().train.lr_schedule.kind == "constant" and sine().train.time_budget is None
    cfg = sine("train.lr_schedule=cosine", "train.time_budget=2m")
    assert (cfg.train.lr_schedule, cfg.train.time_budget) == (CosineSchedule(), 120.0)
    assert sine("train.lr_schedule={kind: step, every: 2}").train.lr_schedule == StepSchedule(every=2)
    with pytest.raises(ConfigError, match=r"^--set train.lr_schedule: invalid 'train.lr_schedule.factor'"):
        sine("train.lr_schedule={kind: plateau, factor: 2}")
    with pytest.raises(ConfigError, match="output.sample_every samples text; sine data has none to write"):
        sine("output.sample_every=1")


def test_the_guard_reaches_the_keras_internal_it_wraps():
    """gradguard wraps Optimizer._clip_gradients: an upgrade that renames it must fail here, loudly."""
    from rnn_recipes.backend import import_keras

    keras = import_keras()
    assert callable(getattr(keras.optimizers.Adam(), "_clip_gradients", None))


def test_the_guard_names_one_remedy_per_trouble():
    from rnn_recipes.gradguard import trouble

    cfg = sine("train.clipnorm=1.0")
    assert trouble(3, [0.5, 0.4, 0.45], 0.2, 0, 10, cfg) is None
    kind, line = trouble(3, [0.5, 0.4, 0.45], 0.95, 0, 10, cfg)
    assert kind == "clipped" and line == (
        "clipping (clipnorm 1) fired on 95% of the steps of epoch 3, so it, not the gradient, sets each step: "
        "lower train.learning_rate (now 0.01) to about 0.0033")
    kind, line = trouble(3, [0.5, 0.4, 8.0], 0.0, 0, 10, sine())
    assert kind == "exploding" and line.startswith("the gradient norm grew 20x (from 0.4 in epoch 2 to 8 in epoch 3): set train.clipnorm: 1.0")
    assert trouble(2, [0.5, float("nan")], 0.0, 4, 10, sine())[0] == "nonfinite"


def test_an_interval_stream_continues_pass_after_pass():
    from rnn_recipes.intervals import interval_count, positions

    it = positions(first_step=5, steps_per_pass=4)
    assert [next(it) for _ in range(5)] == [(1, 1), (1, 2), (1, 3), (2, 0), (2, 1)]
    assert interval_count(sine("train.eval_every=3", "train.epochs=2"), steps_per_pass=7) == 5


# --- training -----------------------------------------------------------------------------


def weights(run_dir):
    from rnn_recipes.runs import load_run

    return load_run(run_dir).load_model().get_weights()


def interrupt_after(monkeypatch, epoch: int):
    """SIGTERM in the middle of writing the checkpoint of `epoch`: training stops with that checkpoint kept."""
    import rnn_recipes.checkpoint as checkpoint

    original, fired = checkpoint.write_json, []

    def write_json(path, obj):
        if path.name == "state.json" and obj["epoch"] == epoch and not fired:
            fired.append(1)
            signal.raise_signal(signal.SIGTERM)
        original(path, obj)

    monkeypatch.setattr(checkpoint, "write_json", write_json)
    return lambda: monkeypatch.setattr(checkpoint, "write_json", original)


def assert_same_run(a, b):
    ha, hb = history(a), history(b)
    assert len(ha) == len(hb)
    for ra, rb in zip(ha, hb):
        assert {k: v for k, v in ra.items() if k != "seconds"} == {k: v for k, v in rb.items() if k != "seconds"}
    for wa, wb in zip(weights(a), weights(b)):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.slow
def test_the_guard_and_the_lr_column_change_no_number_of_a_constant_run(tmp_path):
    on = train(sine("train.grad_guard=true"), tmp_path / "on")
    off = train(sine(), tmp_path / "off")  # the default
    for wa, wb in zip(weights(on), weights(off)):
        np.testing.assert_array_equal(wa, wb)
    rows = history(on)
    assert all(r["lr"] == pytest.approx(0.01) for r in rows) and all(r["grad_norm"] > 0 for r in rows)
    assert {"grad_norm", "clipped_frac"}.isdisjoint(history(off)[0])
    metrics = json.loads((on / "metrics.json").read_text())
    assert (metrics["stopped"], metrics["time_budget"]) == ("epochs", None) and metrics["time_used"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("sets", [
    ("train.lr_schedule={kind: cosine, warmup: 0.2, floor: 0.1}",),
    ("train.lr_schedule={kind: plateau, patience: 1, factor: 0.5}", "train.learning_rate=0.05"),
    ("train.eval_every=3", "train.lr_schedule=linear", "train.epochs=2"),
], ids=["cosine", "plateau", "eval_every"])
def test_an_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path, monkeypatch, sets):
    cfg = sine("train.epochs=6", *sets)
    whole = train(cfg, tmp_path / "whole")
    restore = interrupt_after(monkeypatch, 3)
    with pytest.raises(Interrupted):
        train(cfg, tmp_path / "cut")
    restore()
    assert train(cfg, resume=tmp_path / "cut") == tmp_path / "cut"
    assert_same_run(whole, tmp_path / "cut")
    lrs = [r["lr"] for r in history(whole)]
    assert lrs[-1] < lrs[0] or "eval_every" in sets[0]  # the schedule did move the rate
    if "eval_every" in sets[0]:  # 2 passes of 7 batches in intervals of 3 steps
        assert len(lrs) == 5 and lrs == sorted(lrs, reverse=True) and lrs[0] > lrs[-1]


@pytest.mark.slow
def test_a_budget_stops_before_an_epoch_that_would_overrun(tmp_path, monkeypatch):
    """On a simulated clock the budget reads (each reading 0.1 s after the last), so a loaded machine
    cannot change how many epochs fit."""
    from rnn_recipes import controls

    clock = [0.0]

    def tick() -> float:
        clock[0] += 0.1
        return clock[0]

    monkeypatch.setattr(controls, "time", types.SimpleNamespace(perf_counter=tick))
    run = train(sine("train.epochs=100000", "train.time_budget=20s", "train.lr_schedule=cosine"), tmp_path / "r")
    metrics = json.loads((run / "metrics.json").read_text())
    rows = history(run)
    assert metrics["stopped"] == "budget" and metrics["time_budget"] == 20.0
    assert 2 <= metrics["epochs_run"] == len(rows) < 100000
    per_epoch = metrics["time_used"] / metrics["epochs_run"]
    assert 20.0 - per_epoch < metrics["time_used"] <= 20.0  # stopped at the last epoch that fits, none past it
    lrs = [r["lr"] for r in rows]
    assert lrs[-1] < lrs[0] and lrs[-1] < 0.5 * max(lrs)  # the cosine spans the budget: well down by its end


@pytest.mark.slow
def test_samples_are_written_every_n_epochs_and_listed_in_the_manifest(tmp_path):
    cfg = load_config(TEXT, ["train.epochs=2", "output.sample_every=1"])
    run = train(cfg, tmp_path / "r")
    text = (run / "samples.txt").read_text()
    assert text.count("--- epoch ") == 2 and text.count("greedy: ") == 2 and text.count("t=0.7:  ") == 2
    assert "samples.txt" in json.loads((run / "manifest.json").read_text())["files"]



@pytest.mark.slow
def test_the_train_step_is_traced_once_across_epochs_under_a_budgeted_cosine(tmp_path, monkeypatch):
    """A retrace (and with XLA, a recompilation) costs the epoch it happens in; a run traces each step once.

    Keras creates the optimizer's and the metrics' variables inside the first trace unless they exist
    before `fit`, and TensorFlow then traces the step again: `build_training_state` creates them first,
    without touching the random state dropout draws from (the weights match a run that skips it).
    """
    training = importlib.import_module("rnn_recipes.train")  # `rnn_recipes.train` is the API function

    traces = {"train": 0, "test": 0}
    compile_model = training.compile_model

    def counting(*args, **kwargs):
        model = compile_model(*args, **kwargs)
        for kind in traces:
            step = getattr(model, f"{kind}_step")

            def traced(data, step=step, kind=kind):  # Python runs only while TensorFlow traces the step
                traces[kind] += 1
                return step(data)

            setattr(model, f"{kind}_step", traced)
        return model

    monkeypatch.setattr(training, "compile_model", counting)
    cfg = sine("train.epochs=3", "train.time_budget=10m", "train.grad_guard=true", "train.jit_compile=false",
               "model.dropout=0.3", "train.lr_schedule={kind: cosine, warmup: 0.2, floor: 0.1}")
    run = train(cfg, tmp_path / "once")
    lrs = [r["lr"] for r in history(run)]
    assert len(lrs) == 3 and lrs[-1] < max(lrs)  # the schedule moved the rate every step
    assert traces == {"train": 1, "test": 1}

    traces.update(train=0, test=0)
    monkeypatch.setattr(training, "build_training_state", lambda *args: None)  # Keras' own lazy building
    late = train(cfg, tmp_path / "late")
    assert traces == {"train": 2, "test": 1}
    for a, b in zip(weights(run), weights(late)):
        np.testing.assert_array_equal(a, b)
