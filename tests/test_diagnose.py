"""Gradient-flow diagnostics: vanishing and exploding gradients measured, with fixed seeds and initialisers."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from conftest import TINY
from rnn_recipes.config_load import load_config
from rnn_recipes.errors import ConfigError

# the tiny sine config stretched to 100-step windows: a long sequence, deterministic data and seed
LONG_SINE = ["data.time_steps=100", "data.total_size=400", "data.test_size=400"]


@pytest.fixture(scope="module")
def diagnose():
    from rnn_recipes import diagnose

    return diagnose


def test_clipping_matches_keras_semantics(diagnose):
    grads = [np.array([3.0, 4.0]), np.array([0.3, 0.4]), np.array([-5.0, 0.5])]
    by_norm = diagnose.clip_gradients(grads, clipnorm=1.0, clipvalue=None)
    np.testing.assert_allclose(by_norm[0], [0.6, 0.8])  # norm 5 -> 1, direction kept
    np.testing.assert_allclose(by_norm[1], [0.3, 0.4])  # already inside: untouched
    np.testing.assert_allclose(diagnose.clip_gradients(grads, None, 1.0)[2], [-1.0, 0.5])
    assert diagnose.global_norm(grads) == pytest.approx(math.sqrt(25 + 0.25 + 25.25))


def test_small_recurrent_weights_vanish_in_simple_rnn_far_more_than_in_lstm(diagnose):
    # recurrent kernels scaled to 0.5 bound SimpleRNN's step Jacobian by 0.5 (tanh' <= 1),
    # so 99 steps shrink its gradient below 0.5**99 ~ 1.6e-30; the LSTM's cell state decays
    # only by its forget gates (~sigmoid(1) with Keras' unit forget bias).
    cfg = load_config(TINY / "sine_simple_rnn.yaml", LONG_SINE)
    simple, lstm = diagnose.diagnose_gradients(cfg, ["simple_rnn", "lstm"], steps=0, recurrent_scale=0.5)
    assert (simple.cell, simple.stage, lstm.cell) == ("simple_rnn", "untrained", "lstm")
    assert len(simple.step_norms) == 100 and np.all(simple.step_norms > 0)  # float64: no underflow to 0
    assert simple.ratio < 1e-25  # measured 3.6e-33
    assert simple.step_norms[0] < simple.step_norms[50] < simple.step_norms[-1]
    assert lstm.ratio > 1e-15  # measured 4.1e-12
    assert lstm.ratio > 1e10 * simple.ratio


def test_large_relu_recurrence_explodes_and_clipping_bounds_it(diagnose):
    # identity recurrence x 1.3 with ReLU: active units grow 1.3x per step, over 50 steps
    cfg = load_config(
        TINY / "sine_simple_rnn.yaml",
        ["data.time_steps=50", "model.activation=relu", "model.recurrent_initializer=identity"],
    )
    (exploding,) = diagnose.diagnose_gradients(cfg, steps=0, recurrent_scale=1.3)
    (plain,) = diagnose.diagnose_gradients(load_config(TINY / "sine_simple_rnn.yaml", ["data.time_steps=50"]), steps=0)
    assert exploding.global_norm > 1e9 and plain.global_norm < 10  # measured 5.4e12 and 1.6
    assert exploding.ratio > 1e3  # the first step gets more gradient than the last: it explodes backwards
    # clipnorm=1 clips each of the 5 weight tensors to norm 1: the step's norm is at most sqrt(5)
    assert exploding.clipped_norm == pytest.approx(math.sqrt(5))


def test_float64_context_builds_float64_layers_and_restores_the_default(diagnose):
    from rnn_recipes.backend import import_keras

    keras = import_keras()
    keras.layers.Dense(1)  # the global dtype policy is cached by the first layer built
    with diagnose.float64():
        assert keras.layers.SimpleRNN(2).dtype == "float64" and keras.Input((3,)).dtype == "float64"
    assert keras.layers.SimpleRNN(2).dtype == "float32" and keras.config.floatx() == "float32"


@pytest.mark.slow
def test_trained_lstm_keeps_its_gradient_and_simple_rnn_does_not(diagnose):
    cfg = load_config(TINY / "sine_simple_rnn.yaml", LONG_SINE)
    rows = diagnose.diagnose_gradients(cfg, ["simple_rnn", "lstm"], steps=50, recurrent_scale=0.5)
    trained = {m.cell: m for m in rows if m.stage == "trained"}
    assert trained["lstm"].ratio > 1e-7  # measured 3.4e-4: its forget gates learned to stay open
    assert trained["simple_rnn"].ratio < 1e-12  # measured 5.4e-18
    assert all(m.loss < 0.05 for m in trained.values())  # both did learn the series


@pytest.mark.slow
def test_diagnose_command_prints_the_table_and_writes_csv_and_plot(cli, tmp_path):
    result = cli("diagnose", "gradients", TINY / "sine_simple_rnn.yaml", "--cells", "simple_rnn,gru", "--steps", "3",
                 "--out", "diag")
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0][:2] == ["cell", "stage"] and lines[0][-2:] == ["after", "clipnorm=1"]
    assert [line[:2] for line in lines[1:]] == [["simple_rnn", "untrained"], ["simple_rnn", "trained"],
                                                ["gru", "untrained"], ["gru", "trained"]]
    table = list(csv.DictReader(open(tmp_path / "diag" / "gradients.csv")))
    assert float(table[0]["first_over_last"]) == pytest.approx(
        float(table[0]["grad_first_step"]) / float(table[0]["grad_last_step"]), rel=1e-6)
    steps = list(csv.DictReader(open(tmp_path / "diag" / "gradient_steps.csv")))
    assert len(steps) == 4 * 10  # 4 measurements x 10 time steps
    assert (tmp_path / "diag" / "gradients.png").stat().st_size > 5000


def test_diagnose_command_rejects_a_misspelt_cell(cli):
    result = cli("diagnose", "gradients", TINY / "sine_simple_rnn.yaml", "--cells", "simple_rnn,lstmm")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --cells: invalid 'model.cell'. Expected one of: 'simple_rnn', 'lstm', 'gru', 'peephole_lstm'. Received: 'lstmm'."
    )


def test_with_cell_keeps_everything_else(diagnose):
    cfg = load_config(TINY / "sine_simple_rnn.yaml")
    other = diagnose.with_cell(cfg, "gru")
    assert other.model.cell == "gru" and other.model.units == cfg.model.units and other.data == cfg.data
    with pytest.raises(ConfigError):
        diagnose.with_cell(cfg, "transformer")


def test_bad_settings_and_misspelt_cells_fail_before_any_measurement(diagnose):
    cfg = load_config(TINY / "sine_simple_rnn.yaml")
    with pytest.raises(ConfigError, match=r"--steps must be 0 or more"):
        diagnose.diagnose_gradients(cfg, steps=-1)
    with pytest.raises(ConfigError, match=r"Received: 'lstmm'"):
        diagnose.diagnose_gradients(cfg, ["simple_rnn", "lstmm"], ds=object())  # never reaches the data
