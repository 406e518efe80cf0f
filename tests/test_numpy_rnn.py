"""The NumPy reference RNN: BPTT against finite differences and against Keras, and the seed's training."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_recipes import numpy_rnn as nr


def small_problem(seed: int = 0, batch: int = 3, steps: int = 6, n_in: int = 2, units: int = 5):
    rng = np.random.default_rng(seed)
    params = nr.init_params(rng, n_in, units, 1)
    params["bias"] = rng.normal(0, 0.1, units)  # non-zero so its gradient path is exercised
    x = rng.normal(0, 1, (batch, steps, n_in))
    y = rng.normal(0, 1, (batch, 1))
    return params, x, y


def test_forward_shapes_and_zero_initial_state():
    params, x, _ = small_problem()
    out, hs = nr.forward(params, x)
    assert out.shape == (3, 1) and hs.shape == (3, 7, 5)
    assert np.all(hs[:, 0] == 0) and np.all(np.abs(hs) < 1)


def test_bptt_matches_finite_differences_for_every_weight_and_input():
    params, x, y = small_problem()
    loss, grads = nr.loss_and_grads(params, x, y)
    eps = 1e-6
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            for sign in (1, -1):
                bumped = {**params, name: value.copy()}
                bumped[name][idx] += sign * eps
                numeric[idx] += sign * nr.loss_and_grads(bumped, x, y)[0] / (2 * eps)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-9, err_msg=name)
    pred, hs = nr.forward(params, x)
    _, dx = nr.backward(params, x, hs, nr.mse(pred, y)[1])
    idx = (1, 0, 1)  # the first step: the longest path back through time
    bumped = [x.copy(), x.copy()]
    bumped[0][idx] += eps
    bumped[1][idx] -= eps
    numeric = (nr.mse(nr.forward(params, bumped[0])[0], y)[0] - nr.mse(nr.forward(params, bumped[1])[0], y)[0]) / (2 * eps)
    assert dx[idx] == pytest.approx(numeric, rel=1e-6)


def keras_twin(params, steps: int):
    """Keras' SimpleRNN + Dense in float64 holding the same weights."""
    from rnn_recipes.backend import import_keras

    keras = import_keras()
    n_in, units = params["kernel"].shape
    inputs = keras.Input((steps, n_in), dtype="float64")
    hidden = keras.layers.SimpleRNN(units, dtype="float64")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, dtype="float64")(hidden))
    model.set_weights(nr.keras_weights(params))
    return model


def test_outputs_and_gradients_agree_with_keras_simple_rnn():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    params = nr.init_params(rng, n_in=3, units=16, n_out=1)
    params["bias"] = rng.normal(0, 0.1, 16)
    params["dense_bias"] = rng.normal(0, 0.1, 1)
    x = rng.normal(0, 1, (4, 12, 3))
    y = rng.normal(0, 1, (4, 1))
    model = keras_twin(params, 12)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_mean((model(xt) - y) ** 2)
    keras_grads = tape.gradient(loss, [*model.trainable_weights, xt])

    pred, hs = nr.forward(params, x)
    np.testing.assert_allclose(pred, model(x).numpy(), atol=1e-5)
    np_loss, d_out = nr.mse(pred, y)
    assert np_loss == pytest.approx(float(loss), abs=1e-5)
    grads, dx = nr.backward(params, x, hs, d_out)
    for name, keras_grad in zip(nr.ORDER, keras_grads):
        np.testing.assert_allclose(grads[name], keras_grad.numpy(), atol=1e-5, err_msg=name)
    np.testing.assert_allclose(dx, keras_grads[-1].numpy(), atol=1e-5)
    assert np.abs(grads["recurrent"]).max() > 1e-3  # a real comparison, not of zeros


def test_clip_bounds_every_element_and_keeps_small_ones():
    grads = {"a": np.array([-3.0, -0.5, 0.2, 7.0])}
    np.testing.assert_array_equal(nr.clip(grads)["a"], [-1.0, -0.5, 0.2, 1.0])


def test_short_sine_training_makes_the_loss_fall_and_beats_persistence():
    result = nr.fit_sine(np.random.default_rng(0), units=32, epochs=3)
    assert len(result.losses) == 3
    assert result.losses[-1] < 0.01 * result.losses[0]
    assert result.test_mse < 0.01 * result.persistence_mse
    again = nr.fit_sine(np.random.default_rng(0), units=32, epochs=3)
    assert again.losses == result.losses  # the generator is the only source of randomness


def test_numpy_sine_command_prints_losses_without_tensorflow(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from rnn_recipes.cli import app; "
        "app(['numpy-sine', '--epochs', '2', '--units', '16'], standalone_mode=False); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    lines = out.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:2]] == [["epoch", "1"], ["epoch", "2"]]
    assert lines[2].startswith("test MSE ") and lines[3] == "False"


def test_numpy_sine_command_rejects_bad_numbers(cli):
    result = cli("numpy-sine", "--epochs", "0")
    assert result.exit_code == 2 and result.output.startswith("error: --epochs must be 1 to 100,000")


def test_fit_sine_refuses_bad_numbers_from_python_too():
    from rnn_recipes.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--epochs must be 1 to 100,000, --units 1 to 4,096 and --lr above 0 \(finite\); received 1, 16, 0.0"):
        nr.fit_sine(np.random.default_rng(0), units=16, epochs=1, lr=0.0)


# --- the peephole LSTM reference, and Keras' PeepholeLSTM held to it ---------------------


def peephole_problem(seed: int = 0, batch: int = 3, steps: int = 6, n_in: int = 2, units: int = 4):
    rng = np.random.default_rng(seed)
    params = nr.peephole_init_params(rng, n_in, units, 1)
    params["bias"] = rng.normal(0, 0.3, 4 * units)  # non-zero so every gradient path is exercised
    params["dense_bias"] = rng.normal(0, 0.1, 1)
    for name in ("peep_i", "peep_f", "peep_o"):
        params[name] = rng.normal(0, 0.5, units)  # large enough that a dropped peephole term shows
    x = rng.normal(0, 1, (batch, steps, n_in))
    y = rng.normal(0, 1, (batch, 1))
    return params, x, y


def test_peephole_bptt_matches_finite_differences_for_every_weight_and_input():
    params, x, y = peephole_problem()
    _, grads = nr.peephole_loss_and_grads(params, x, y)
    eps = 1e-6

    def numeric_grad(loss_of, value):
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            for sign in (1, -1):
                bumped = value.copy()
                bumped[idx] += sign * eps
                numeric[idx] += sign * loss_of(bumped) / (2 * eps)
        return numeric

    for name, value in params.items():
        numeric = numeric_grad(lambda v: nr.peephole_loss_and_grads({**params, name: v}, x, y)[0], value)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-9, err_msg=name)
        assert np.abs(grads[name]).max() > 1e-4, name  # a real comparison, not of zeros
    pred, cache = nr.peephole_forward(params, x)
    _, dx = nr.peephole_backward(params, x, cache, nr.mse(pred, y)[1])
    numeric = numeric_grad(lambda v: nr.mse(nr.peephole_forward(params, v)[0], y)[0], x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-5, atol=1e-9)


def test_peephole_gates_read_the_cell_state():
    params, x, _ = peephole_problem()
    plain = {**params, **{k: np.zeros_like(params[k]) for k in ("peep_i", "peep_f", "peep_o")}}
    for name in ("peep_i", "peep_f", "peep_o"):  # each peephole alone changes the output
        one = {**plain, name: params[name]}
        assert np.abs(nr.peephole_forward(one, x)[0] - nr.peephole_forward(plain, x)[0]).max() > 1e-3, name


def keras_peephole_twin(params, steps: int):
    """`PeepholeLSTM` + Dense in float64 holding the same weights."""
    from rnn_recipes.cells import PeepholeLSTM, keras

    n_in, units = params["kernel"].shape[0], params["recurrent"].shape[0]
    inputs = keras.Input((steps, n_in), dtype="float64")
    hidden = PeepholeLSTM(units, dtype="float64")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, dtype="float64")(hidden))
    model.set_weights([params[k] for k in nr.PEEPHOLE_ORDER])
    return model


def test_peephole_outputs_and_gradients_agree_with_keras_peephole_lstm():
    import tensorflow as tf

    params, x, y = peephole_problem(seed=1, batch=4, steps=12, n_in=3, units=8)
    model = keras_peephole_twin(params, 12)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_mean((model(xt) - y) ** 2)
    keras_grads = tape.gradient(loss, [*model.trainable_weights, xt])
    assert [w.path.split("/")[-1] for w in model.trainable_weights[3:6]] == ["input_peephole", "forget_peephole", "output_peephole"]

    pred, cache = nr.peephole_forward(params, x)
    np.testing.assert_allclose(pred, model(x).numpy(), rtol=1e-12, atol=1e-12)
    np_loss, d_out = nr.mse(pred, y)
    assert np_loss == pytest.approx(float(loss), rel=1e-12)
    grads, dx = nr.peephole_backward(params, x, cache, d_out)
    for name, keras_grad in zip(nr.PEEPHOLE_ORDER, keras_grads):
        np.testing.assert_allclose(grads[name], keras_grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(dx, keras_grads[-1].numpy(), rtol=1e-9, atol=1e-12)
