"""Gradient-flow diagnostics: how much of the loss gradient reaches each time step, per cell.

For the model a config describes, untrained and after a short training, this
measures on one fixed batch:

- the norm of the loss gradient with respect to the recurrent stack's input
  at every time step (the embedded or raw sequence). On long sequences a
  SimpleRNN's norm shrinks geometrically towards the first step (vanishing
  gradients); the gated cells keep far more of it.
- the global norm of the weight gradients, before and after clipping
  (`clipnorm` clips each weight's gradient to that norm, as Keras does;
  `clipvalue` each element). With a large recurrent initialisation and ReLU
  the gradient explodes and clipping is what keeps a step finite.

`diagnose_gradients(cfg, cells=["simple_rnn", "lstm"], steps=50)` trains each
cell briefly and returns its measurements; `rnn diagnose gradients CONFIG`
prints them as tables.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn_recipes import tasks
from rnn_recipes.backend import import_keras
from rnn_recipes.config import Config
from rnn_recipes.config_load import build_config
from rnn_recipes.data import load_dataset
from rnn_recipes.dataset import Dataset
from rnn_recipes.errors import ConfigError
from rnn_recipes.fileio import write_text

keras = import_keras()
import tensorflow as tf  # noqa: E402  (the diagnostics use GradientTape: TensorFlow backend)

from rnn_recipes import plots  # noqa: E402
from rnn_recipes.model import build_model, compile_model, dtype_policy  # noqa: E402
from rnn_recipes.train import seed_everything  # noqa: E402

RECURRENT = (keras.layers.RNN, keras.layers.Bidirectional)  # SimpleRNN, LSTM, GRU are RNNs


@dataclass
class Measurement:
    """One model at one stage of training, measured on the fixed batch."""

    cell: str
    stage: str  # "untrained" or "trained"
    loss: float
    step_norms: np.ndarray  # |dL/dx_t| for t = 1..T
    global_norm: float  # of all weight gradients
    clipped_norm: float  # the same after the optimizer's clipping

    @property
    def ratio(self) -> float:
        """|dL/dx_1| / |dL/dx_T|: how much of the gradient survives the whole sequence."""
        return float(self.step_norms[0] / self.step_norms[-1])


def clip_gradients(grads: list[np.ndarray], clipnorm: float | None, clipvalue: float | None) -> list[np.ndarray]:
    """Keras' optimizer clipping: each gradient to norm `clipnorm`, then each element to ±`clipvalue`."""
    out = []
    for g in grads:
        norm = float(np.linalg.norm(g))
        if clipnorm is not None and norm > clipnorm:
            g = g * (clipnorm / norm)
        if clipvalue is not None:
            g = np.clip(g, -clipvalue, clipvalue)
        out.append(g)
    return out


def global_norm(grads: list[np.ndarray]) -> float:
    """The norm of all gradients taken as one vector."""
    return float(np.sqrt(sum(float(np.sum(np.square(g))) for g in grads)))


def scale_recurrent_weights(model: keras.Model, scale: float) -> None:
    """Multiply every recurrent kernel by `scale` (above 1 makes gradients explode, below 1 vanish)."""
    for weight in model.weights:
        if weight.path.endswith("recurrent_kernel"):
            weight.assign(weight.numpy() * scale)


def _first_recurrent(model: keras.Model) -> int:
    layers = model.layers
    return next(i for i, layer in enumerate(layers) if isinstance(layer, RECURRENT))


def gradients(model: keras.Model, x: np.ndarray, y: np.ndarray, loss_name: str) -> tuple[float, np.ndarray, list[np.ndarray]]:
    """Loss, per-step input-gradient norms (T,), and the weight gradients, on one batch.

    The model is applied layer by layer so that the tape can hold the tensor
    the first recurrent layer reads (after the embedding or one-hot encoding).
    """
    loss_fn = loss_object(loss_name)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    split = _first_recurrent(model) - (len(model.layers) - len(layers))
    with tf.GradientTape() as tape:
        seq = tf.convert_to_tensor(x)
        for layer in layers[:split]:
            seq = layer(seq)
        tape.watch(seq)
        out = seq
        for layer in layers[split:]:
            out = layer(out)
        loss = loss_fn(y, out)
    d_seq, *d_weights = tape.gradient(loss, [seq, *model.trainable_weights])
    d_seq = d_seq.numpy()
    step_norms = np.sqrt(np.sum(np.square(d_seq), axis=tuple(i for i in range(d_seq.ndim) if i != 1)))
    # an embedding's gradient arrives as IndexedSlices (only the rows used); densify it
    weights = [np.zeros(w.shape) if g is None else tf.convert_to_tensor(g).numpy() for w, g in zip(model.trainable_weights, d_weights)]
    return float(loss), step_norms, weights


def loss_object(name: str) -> keras.losses.Loss:
    """The loss `compile(loss=name)` trains with, as the object that fit makes of it.

    A loss object, unlike the bare function, matches the target's rank to the
    output's, as fit does. Keras names each loss function's class after it
    (mse is mean_squared_error: MeanSquaredError).
    """
    function = keras.losses.get(name)
    return keras.losses.get("".join(part.capitalize() for part in function.__name__.split("_")))


def float64():
    """Build models in float64: a vanished gradient of 1e-60 must not underflow to 0 (float32 stops at ~1e-45).

    Layers take their dtype from the global dtype policy (cached at the first
    layer built) and inputs from floatx: both are set, and both restored.
    """
    return dtype_policy("float64", floatx="float64")


def with_cell(cfg: Config, cell: str) -> Config:
    """`cfg` with another recurrent cell, checked like any config (`--cells` names the source).

    XLA is switched off: it needs TensorFlow's op determinism off, and these
    measurements should repeat exactly. Precision is float32, so the model is
    built under the float64 policy that `float64` sets.
    """
    data = cfg.to_dict()
    data["model"]["cell"] = cell
    data["train"]["jit_compile"] = False
    data["train"]["precision"] = "float32"
    return build_config(data, source="--cells", overridden={("model", "cell"): "--cells"})


def clipping(cfg: Config, clipnorm: float | None = None) -> tuple[float | None, float | None]:
    """(clipnorm, clipvalue) to report: `clipnorm` if given, else the config's, else clipnorm 1.0."""
    if clipnorm is not None:
        return clipnorm, None
    if cfg.train.clipnorm is None and cfg.train.clipvalue is None:
        return 1.0, None  # show what clipping would do even where the config trains without it
    return cfg.train.clipnorm, cfg.train.clipvalue


def clipping_label(clipnorm: float | None, clipvalue: float | None) -> str:
    return " ".join(f"{k}={v:g}" for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue)) if v is not None)


def _as_float64(x: np.ndarray) -> np.ndarray:
    return x.astype("float64") if np.issubdtype(x.dtype, np.floating) else x


def _measure(model, cfg: Config, stage: str, x, y, loss_name: str, clipnorm, clipvalue) -> Measurement:
    loss, step_norms, grads = gradients(model, x, y, loss_name)
    clipped = global_norm(clip_gradients(grads, clipnorm, clipvalue))
    return Measurement(cfg.model.cell, stage, loss, step_norms, global_norm(grads), clipped)


def diagnose_gradients(
    cfg: Config,
    cells: list[str] | None = None,
    steps: int = 100,
    batch: int = 32,
    recurrent_scale: float = 1.0,
    clipnorm: float | None = None,
    ds: Dataset | None = None,
) -> list[Measurement]:
    """Measure every cell untrained and after `steps` training batches.

    Args:
        cfg: the config whose data and model are measured.
        cells: the cells to compare; default the config's own.
        steps: training batches between the two measurements (0: untrained only).
        batch: examples in the fixed measurement batch (the first training examples).
        recurrent_scale: multiplies the recurrent kernels after initialisation.
        clipnorm: the clipping to report; default the config's train.clipnorm and
            clipvalue, or clipnorm 1.0 when it sets neither (see `clipping`).
        ds: the dataset, if already loaded.
    """
    if not (0 <= steps <= 1_000_000 and 1 <= batch <= 100_000 and 0 < recurrent_scale <= 1e6) or (
        clipnorm is not None and not 0 < clipnorm <= 1e30
    ):  # the comparisons also refuse nan
        raise ConfigError("--steps must be 0 or more, --batch at least 1, --recurrent-scale and --clipnorm above 0")
    for cell in cells or []:
        with_cell(cfg, cell)  # a misspelt cell fails before any data loads
    if cfg.model.kind != "stack":
        raise ConfigError(f"rnn diagnose gradients measures one recurrent stack; model.kind {cfg.model.kind} has an "
                          "encoder and a decoder, which it does not measure yet")
    ds = ds or load_dataset(cfg)
    loss_name = tasks.of(ds.spec).loss
    x, y = _as_float64(ds.x_train[:batch]), ds.y_train[:batch]
    clipnorm, clipvalue = clipping(cfg, clipnorm)
    rows = []
    for cell in cells or [cfg.model.cell]:
        cell_cfg = with_cell(cfg, cell)
        seed_everything(cell_cfg.seed)
        with float64():
            model = compile_model(build_model(cell_cfg, ds.spec), cell_cfg, ds.spec)
        scale_recurrent_weights(model, recurrent_scale)
        rows.append(_measure(model, cell_cfg, "untrained", x, y, loss_name, clipnorm, clipvalue))
        if steps:
            order = np.random.default_rng(cell_cfg.seed).permutation(len(ds.x_train))
            size = cell_cfg.train.batch_size
            for step in range(steps):
                idx = np.take(order, range(step * size, (step + 1) * size), mode="wrap")
                model.train_on_batch(_as_float64(ds.x_train[idx]), ds.y_train[idx])
            rows.append(_measure(model, cell_cfg, "trained", x, y, loss_name, clipnorm, clipvalue))
    return rows


# --- reporting ---------------------------------------------------------------

COLUMNS = ["cell", "stage", "loss", "grad_first_step", "grad_last_step", "first_over_last", "weight_grad_norm", "after_clipping"]


def table_rows(rows: list[Measurement]) -> list[dict]:
    return [
        {
            "cell": m.cell,
            "stage": m.stage,
            "loss": m.loss,
            "grad_first_step": float(m.step_norms[0]),
            "grad_last_step": float(m.step_norms[-1]),
            "first_over_last": m.ratio,
            "weight_grad_norm": m.global_norm,
            "after_clipping": m.clipped_norm,
        }
        for m in rows
    ]


def format_table(rows: list[Measurement], clipping: str) -> str:
    """A fixed-width table for the terminal."""
    header = ["cell", "stage", "loss", "|g| step 1", "|g| step T", "step 1 / T", "|grad W|", f"after {clipping}"]
    lines = ["  ".join(f"{h:>12}" for h in header)]
    for r in table_rows(rows):
        values = [r["cell"], r["stage"]] + [r[c] for c in COLUMNS[2:]]
        lines.append("  ".join(f"{v:>12}" if isinstance(v, str) else f"{v:>12.3g}" if v is not None else f"{'-':>12}" for v in values))
    return "\n".join(lines)


def save_report(cfg: Config, rows: list[Measurement], out: Path | None = None) -> Path:
    """Write the report of `cfg`'s measurements to `out` (default `<output.dir>/diagnose-<name>`); return it."""
    out = out or Path(cfg.output.dir) / f"diagnose-{cfg.name}"
    write_report(rows, out, title=f"{cfg.name}: gradient norm per time step")
    return out


def write_report(rows: list[Measurement], out: Path, title: str = "") -> None:
    """gradients.csv (the table), gradient_steps.csv (every step's norm) and gradients.png."""
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in table_rows(rows))
    write_text(out / "gradients.csv", buf.getvalue())
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["cell", "stage", "step", "grad_norm"])
    for m in rows:
        writer.writerows([m.cell, m.stage, t, f"{v:.6g}"] for t, v in enumerate(m.step_norms, start=1))
    write_text(out / "gradient_steps.csv", buf.getvalue())
    curves = {(m.cell, m.stage): m.step_norms for m in rows}
    plots.gradient_norms(curves, out / "gradients.png", title=title)
