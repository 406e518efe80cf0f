"""From-scratch NumPy RNN regressors: the seed's SimpleRNN (forward, BPTT, SGD) and a peephole LSTM's forward and BPTT.

The sine seed's network, kept as a reference that a reader can follow line by
line and that the tests hold Keras to:

    h_t = tanh(x_t W_x + h_{t-1} W_h + b),  h_0 = 0
    y   = h_T W_y + b_y
    L   = mean((y - target)^2)

trained one window at a time with plain SGD, each gradient clipped to
[-1, 1]. Weights use Keras' layouts (SimpleRNN kernel (in, units),
recurrent_kernel (units, units), bias (units,); Dense kernel (units, out),
bias (out,)), so `keras_weights(params)` loads into `SimpleRNN` + `Dense`.

The peephole LSTM (`peephole_forward`, `peephole_backward`, at the end) is
the reference `rnn_recipes.cells.PeepholeLSTM` is held to; its weights in
`PEEPHOLE_ORDER` load into `PeepholeLSTM` + `Dense`.

Example:
    >>> rng = np.random.default_rng(0)
    >>> result = fit_sine(rng, units=16, epochs=2)  # the seed's 128 units and 15 epochs take ~50x longer
    >>> result.losses[-1] < result.losses[0]
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_recipes.series import sine_windows
from rnn_recipes.errors import ConfigError

Params = dict[str, np.ndarray]
ORDER = ("kernel", "recurrent", "bias", "dense", "dense_bias")  # Keras' get_weights() order


def init_params(rng: np.random.Generator, n_in: int = 1, units: int = 128, n_out: int = 1) -> Params:
    """Uniform(-1/sqrt(units), 1/sqrt(units)) weights and zero biases, in Keras' layouts.

    Args:
        rng: the random generator (the only source of randomness).
        n_in: features per time step.
        units: hidden units (the seed: 128).
        n_out: outputs of the head.
    """
    s = 1.0 / np.sqrt(units)  # keeps tanh out of saturation at the start
    return {
        "kernel": rng.uniform(-s, s, (n_in, units)),
        "recurrent": rng.uniform(-s, s, (units, units)),
        "bias": np.zeros(units),
        "dense": rng.uniform(-s, s, (units, n_out)),
        "dense_bias": np.zeros(n_out),
    }


def keras_weights(params: Params) -> list[np.ndarray]:
    """The arrays in the order `SimpleRNN` + `Dense` `set_weights` expects."""
    return [params[k] for k in ORDER]


def forward(params: Params, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the network over `x` (batch, time, n_in).

    Returns:
        (outputs (batch, n_out), hidden states (batch, time + 1, units) with h_0 = 0 first).
    """
    batch, steps, _ = x.shape
    hs = np.zeros((batch, steps + 1, params["recurrent"].shape[0]))
    for t in range(steps):
        hs[:, t + 1] = np.tanh(x[:, t] @ params["kernel"] + hs[:, t] @ params["recurrent"] + params["bias"])
    return hs[:, -1] @ params["dense"] + params["dense_bias"], hs


def mse(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error and its gradient with respect to `pred`."""
    diff = pred - target
    return float(np.mean(diff**2)), 2.0 * diff / diff.size


def backward(params: Params, x: np.ndarray, hs: np.ndarray, d_out: np.ndarray) -> tuple[Params, np.ndarray]:
    """Backpropagation through time.

    Args:
        params: the weights `forward` used.
        x: its input (batch, time, n_in).
        hs: the hidden states `forward` returned.
        d_out: the loss gradient with respect to the outputs (batch, n_out).

    Returns:
        (gradient of every weight, gradient with respect to `x`).
    """
    grads = {
        "dense": hs[:, -1].T @ d_out,
        "dense_bias": d_out.sum(axis=0),
        "kernel": np.zeros_like(params["kernel"]),
        "recurrent": np.zeros_like(params["recurrent"]),
        "bias": np.zeros_like(params["bias"]),
    }
    dx = np.zeros_like(x, dtype=float)
    dh = d_out @ params["dense"].T
    for t in reversed(range(x.shape[1])):
        da = dh * (1.0 - hs[:, t + 1] ** 2)  # through tanh
        grads["kernel"] += x[:, t].T @ da
        grads["recurrent"] += hs[:, t].T @ da
        grads["bias"] += da.sum(axis=0)
        dx[:, t] = da @ params["kernel"].T
        dh = da @ params["recurrent"].T  # on to the previous step
    return grads, dx


def loss_and_grads(params: Params, x: np.ndarray, target: np.ndarray) -> tuple[float, Params]:
    """The MSE loss on (x, target) and the gradient of every weight."""
    pred, hs = forward(params, x)
    loss, d_out = mse(pred, target)
    grads, _ = backward(params, x, hs, d_out)
    return loss, grads


def clip(grads: Params, limit: float = 1.0) -> Params:
    """Clip every gradient element to [-limit, limit], as the seed does against exploding gradients."""
    return {k: np.clip(g, -limit, limit) for k, g in grads.items()}


def sgd_step(params: Params, grads: Params, lr: float) -> Params:
    """One plain SGD update; returns new arrays."""
    return {k: params[k] - lr * grads[k] for k in params}


def train(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    epochs: int = 15,
    lr: float = 1e-2,
    limit: float = 1.0,
) -> tuple[Params, list[float]]:
    """SGD one window at a time, in a shuffled order each epoch, as the seed.

    Returns:
        (trained weights, mean training loss per epoch).
    """
    losses = []
    for _ in range(epochs):
        total = 0.0
        for i in rng.permutation(len(x)):
            loss, grads = loss_and_grads(params, x[i : i + 1], y[i : i + 1])
            params = sgd_step(params, clip(grads, limit), lr)
            total += loss
        losses.append(total / len(x))
    return params, losses


def _windows(values: np.ndarray, time_steps: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = sine_windows(values, time_steps)  # the same windows the Keras sine runs train on
    return x.astype(float), y.astype(float)


@dataclass
class SineResult:
    params: Params
    losses: list[float]  # mean training MSE per epoch
    test_mse: float  # on the last `test_windows` windows of sin(arange(test_size))
    persistence_mse: float  # repeating the last value seen, on the same windows


def fit_sine(
    rng: np.random.Generator,
    units: int = 128,
    epochs: int = 15,
    lr: float = 1e-2,
    time_steps: int = 25,
    total_size: int = 250,
    test_size: int = 400,
    test_windows: int = 75,
) -> SineResult:
    """The seed end to end: train on sin(arange(total_size)), test on the last windows of sin(arange(test_size))."""
    if not (1 <= epochs <= 100_000 and 1 <= units <= 4_096 and 0 < lr <= 1e6):  # also refuses a nan --lr
        raise ConfigError(
            f"--epochs must be 1 to 100,000, --units 1 to 4,096 and --lr above 0 (finite); received {epochs}, {units}, {lr}"
        )
    x, y = _windows(np.sin(np.arange(total_size)), time_steps)
    x_test, y_test = _windows(np.sin(np.arange(test_size)), time_steps)
    x_test, y_test = x_test[-test_windows:], y_test[-test_windows:]
    params, losses = train(init_params(rng, 1, units, 1), x, y, rng, epochs, lr)
    test_mse, _ = mse(forward(params, x_test)[0], y_test)
    persistence, _ = mse(x_test[:, -1], y_test)
    return SineResult(params, losses, test_mse, persistence)


# --- the peephole LSTM ------------------------------------------------------------
#
# A reference for rnn_recipes.cells.PeepholeLSTM, held to it and to finite
# differences by tests/test_numpy_rnn.py:
#
#     z   = x_t W + h_{t-1} U + b,  split into the i, f, c, o gates' parts
#     i_t = sigmoid(z_i + p_i c_{t-1}),  f_t = sigmoid(z_f + p_f c_{t-1}),  g_t = tanh(z_c)
#     c_t = f_t c_{t-1} + i_t g_t
#     o_t = sigmoid(z_o + p_o c_t),      h_t = o_t tanh(c_t),  h_0 = c_0 = 0
#     y   = h_T W_y + b_y

PEEPHOLE_ORDER = ("kernel", "recurrent", "bias", "peep_i", "peep_f", "peep_o", "dense", "dense_bias")


def peephole_init_params(rng: np.random.Generator, n_in: int = 1, units: int = 16, n_out: int = 1) -> Params:
    """Uniform(-1/sqrt(units), 1/sqrt(units)) weights, peepholes included, zero biases; `PEEPHOLE_ORDER`'s layouts."""
    s = 1.0 / np.sqrt(units)
    return {
        "kernel": rng.uniform(-s, s, (n_in, 4 * units)),
        "recurrent": rng.uniform(-s, s, (units, 4 * units)),
        "bias": np.zeros(4 * units),
        "peep_i": rng.uniform(-s, s, units),
        "peep_f": rng.uniform(-s, s, units),
        "peep_o": rng.uniform(-s, s, units),
        "dense": rng.uniform(-s, s, (units, n_out)),
        "dense_bias": np.zeros(n_out),
    }


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def peephole_forward(params: Params, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run the peephole LSTM and its dense head over `x` (batch, time, n_in).

    Returns:
        (outputs (batch, n_out), the per-step values backward needs: gates i, f, g, o and
        states c, h, each (batch, time + 1, units) with index 0 the zero initial state).
    """
    batch, steps, _ = x.shape
    u = params["recurrent"].shape[0]
    cache = {k: np.zeros((batch, steps + 1, u)) for k in ("i", "f", "g", "o", "c", "h")}
    for t in range(1, steps + 1):
        c_prev, h_prev = cache["c"][:, t - 1], cache["h"][:, t - 1]
        z_i, z_f, z_c, z_o = np.split(x[:, t - 1] @ params["kernel"] + h_prev @ params["recurrent"] + params["bias"], 4, axis=-1)
        i = _sigmoid(z_i + params["peep_i"] * c_prev)
        f = _sigmoid(z_f + params["peep_f"] * c_prev)
        g = np.tanh(z_c)
        c = f * c_prev + i * g
        o = _sigmoid(z_o + params["peep_o"] * c)  # the output gate sees the new cell state
        for k, v in zip(("i", "f", "g", "o", "c", "h"), (i, f, g, o, c, o * np.tanh(c))):
            cache[k][:, t] = v
    return cache["h"][:, -1] @ params["dense"] + params["dense_bias"], cache


def peephole_backward(params: Params, x: np.ndarray, cache: dict[str, np.ndarray], d_out: np.ndarray) -> tuple[Params, np.ndarray]:
    """Backpropagation through time for `peephole_forward`.

    Args:
        params: the weights `peephole_forward` used.
        x: its input (batch, time, n_in).
        cache: the per-step values it returned.
        d_out: the loss gradient with respect to the outputs (batch, n_out).

    Returns:
        (gradient of every weight, gradient with respect to `x`).
    """
    grads = {k: np.zeros_like(v, dtype=float) for k, v in params.items()}
    grads["dense"] = cache["h"][:, -1].T @ d_out
    grads["dense_bias"] = d_out.sum(axis=0)
    dx = np.zeros_like(x, dtype=float)
    dh = d_out @ params["dense"].T
    dc = np.zeros_like(dh)  # what c_t's later steps send back
    for t in range(x.shape[1], 0, -1):
        i, f, g, o, c = (cache[k][:, t] for k in ("i", "f", "g", "o", "c"))
        c_prev, h_prev = cache["c"][:, t - 1], cache["h"][:, t - 1]
        tanh_c = np.tanh(c)
        da_o = dh * tanh_c * o * (1.0 - o)
        dc = dc + dh * o * (1.0 - tanh_c**2) + da_o * params["peep_o"]  # through h_t and through o_t's peephole
        da_i = dc * g * i * (1.0 - i)
        da_f = dc * c_prev * f * (1.0 - f)
        dz = np.concatenate([da_i, da_f, dc * i * (1.0 - g**2), da_o], axis=-1)
        grads["peep_i"] += (da_i * c_prev).sum(axis=0)
        grads["peep_f"] += (da_f * c_prev).sum(axis=0)
        grads["peep_o"] += (da_o * c).sum(axis=0)
        grads["kernel"] += x[:, t - 1].T @ dz
        grads["recurrent"] += h_prev.T @ dz
        grads["bias"] += dz.sum(axis=0)
        dx[:, t - 1] = dz @ params["kernel"].T
        dh = dz @ params["recurrent"].T
        dc = dc * f + da_i * params["peep_i"] + da_f * params["peep_f"]  # on to c_{t-1}
    return grads, dx


def peephole_loss_and_grads(params: Params, x: np.ndarray, target: np.ndarray) -> tuple[float, Params]:
    """The MSE loss of the peephole LSTM regressor on (x, target) and the gradient of every weight."""
    pred, cache = peephole_forward(params, x)
    loss, d_out = mse(pred, target)
    grads, _ = peephole_backward(params, x, cache, d_out)
    return loss, grads
