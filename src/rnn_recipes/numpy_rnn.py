"""A from-scratch NumPy SimpleRNN regressor: forward pass, backpropagation through time, SGD.

The sine seed's network, kept as a reference that a reader can follow line by
line and that the tests hold Keras to:

    h_t = tanh(x_t W_x + h_{t-1} W_h + b),  h_0 = 0
    y   = h_T W_y + b_y
    L   = mean((y - target)^2)

trained one window at a time with plain SGD, each gradient clipped to
[-1, 1]. Weights use Keras' layouts (SimpleRNN kernel (in, units),
recurrent_kernel (units, units), bias (units,); Dense kernel (units, out),
bias (out,)), so `keras_weights(params)` loads into `SimpleRNN` + `Dense`.

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
