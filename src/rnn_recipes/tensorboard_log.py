"""TensorBoard event files for a run (`output.tensorboard: true`): losses, metrics, learning rate, histograms, the graph.

Under `RUN/tensorboard/`:

- `train/` and `validation/`, from Keras' TensorBoard callback: every epoch's
  loss and metrics (`epoch_loss`, `epoch_accuracy`, ...), the learning rate
  (`epoch_learning_rate`), a histogram of every weight, and the model's
  graph (`keras` summary: its layers as TensorBoard's Graphs tab draws them);
- `gradients/`, from `GradientNorms`: each epoch, the norm of the loss
  gradient of every weight on one fixed training batch, as a histogram
  (`gradient_norms`) and as scalars (`gradient_norm/global`,
  `gradient_norm/<weight>`), so a vanishing or exploding layer shows.

`tensorboard --logdir RUN/tensorboard` shows them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnn_recipes.backend import import_keras
from rnn_recipes.config import Config
from rnn_recipes.dataset import Dataset
from rnn_recipes.runproof import TENSORBOARD

keras = import_keras()

LOG_DIR = TENSORBOARD  # beside the run's files; a folder runproof.py accepts in a run


class GradientNorms(keras.callbacks.Callback):
    """Each epoch's gradient norm per weight on a fixed training batch, written as a histogram and scalars.

    Args:
        log_dir: where the event file goes.
        x, y: the fixed batch (the first `batch_size` training examples).
    """

    def __init__(self, log_dir: Path, x: np.ndarray, y: np.ndarray):
        super().__init__()
        self.log_dir, self.x, self.y = Path(log_dir), x, y
        self._writer = None

    def norms(self) -> dict[str, float]:
        """weight path -> norm of d(loss)/d(weight) on the fixed batch, dropout off."""
        import tensorflow as tf

        weights = self.model.trainable_weights
        with tf.GradientTape() as tape:
            pred = self.model(self.x, training=False)
            loss = self.model.compute_loss(x=self.x, y=self.y, y_pred=pred, training=False)
        grads = tape.gradient(loss, weights)
        return {w.path: float(tf.norm(g)) for w, g in zip(weights, grads) if g is not None}

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.log_dir))
        norms = self.norms()
        if not norms:
            return
        with self._writer.as_default(step=epoch):
            tf.summary.histogram("gradient_norms", np.array(list(norms.values()), np.float32))
            tf.summary.scalar("gradient_norm/global", float(np.sqrt(np.sum(np.square(list(norms.values()))))))
            for path, norm in norms.items():
                tf.summary.scalar(f"gradient_norm/{path}", norm)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def callbacks(cfg: Config, ds: Dataset, run_dir: Path, gradients: bool = True) -> list:
    """The callbacks that write `RUN/tensorboard`, or none when `output.tensorboard` is off.

    `gradients=False` (a distributed run) leaves out the gradient norms, which need the model outside a replica.
    """
    if not cfg.output.tensorboard:
        return []
    log_dir = Path(run_dir) / LOG_DIR
    found = [keras.callbacks.TensorBoard(log_dir=str(log_dir), histogram_freq=1, write_graph=True, update_freq="epoch")]
    if gradients:
        n = cfg.train.batch_size
        found.append(GradientNorms(log_dir / "gradients", ds.x_train[:n], ds.y_train[:n]))
    return found
