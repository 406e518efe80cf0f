"""Each Keras/TensorFlow internal the project touches (rnn_recipes.compat) still is what the code expects.

These fail after an upgrade that moves or changes one of them, with a
message naming what changed; fix compat.py, not the callers.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest

from rnn_recipes import compat
from rnn_recipes.backend import import_keras

keras = import_keras()
tf = pytest.importorskip("tensorflow")


def test_the_private_switch_that_turns_op_determinism_off_is_still_there():
    module = importlib.import_module("tensorflow.python.framework.config")
    assert hasattr(module, "disable_op_determinism"), (
        "tensorflow.python.framework.config.disable_op_determinism is gone: compat.disable_op_determinism "
        "must find TensorFlow's new way to turn op determinism off"
    )
    was_on = module.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    compat.disable_op_determinism()
    turned_off = not module.is_op_determinism_enabled()
    if was_on:  # the switch is process-wide: leave it as found
        tf.config.experimental.enable_op_determinism()
    assert turned_off, "compat.disable_op_determinism no longer turns op determinism off"


def test_strategies_still_have_the_reduce_the_subclass_overrides():
    for base in (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy):
        params = list(inspect.signature(base.reduce).parameters)
        assert params == ["self", "reduce_op", "value", "axis"], (
            f"{base.__name__}.reduce now takes {params}: compat.keras_ready_strategy overrides "
            "reduce(self, reduce_op, value, axis)"
        )
        assert hasattr(base, "experimental_local_results"), f"{base.__name__}.experimental_local_results is gone"


def test_keras_still_reduces_a_whole_batch_without_an_axis_before_training():
    """The call the override exists for (keras-team/keras#20585); when it goes, the override may go too."""
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    source = inspect.getsource(TensorFlowTrainer._maybe_symbolic_build)
    assert "distribute_strategy.reduce(" in source and "axis=None" in source, (
        "Keras no longer reduces the first batch with axis=None in TensorFlowTrainer._maybe_symbolic_build: "
        "check whether compat.keras_ready_strategy is still needed"
    )


def test_the_keras_ready_strategy_reduces_what_keras_hands_it():
    strategy = compat.keras_ready_strategy(tf.distribute.MirroredStrategy)(["/cpu:0"])
    assert type(strategy).__name__ == "MirroredStrategy"
    batch = strategy.experimental_distribute_values_from_function(
        lambda ctx: (tf.ones((3, 2)), tf.zeros((3,)))
    )
    x, y = strategy.reduce("MEAN", batch, axis=None)  # a nested batch: this replica's part, for its shapes
    assert (x.shape, y.shape) == ((3, 2), (3,))
    loss = strategy.run(lambda: tf.constant(2.0))
    assert float(strategy.reduce("MEAN", loss, axis=0)) == 2.0  # a scalar reduced along axis 0: without one


def early_stopping_on_a_model(patience: int = 2):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    es = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    es.set_model(model)
    return es, model


def test_early_stopping_keeps_its_state_in_the_attributes_a_resume_writes():
    es, _ = early_stopping_on_a_model()
    es.on_train_begin()
    missing = [name for name in compat.EARLY_STOPPING_STATE if not hasattr(es, name)]
    assert not missing, f"keras.callbacks.EarlyStopping no longer has {missing}: checkpoint.py saves and restores them"
    assert (es.wait, es.best, es.best_epoch, es.stopped_epoch, es.best_weights) == (0, None, 0, 0, None), (
        "EarlyStopping.on_train_begin no longer resets its state as Checkpoint.on_train_begin expects"
    )


def test_restored_early_stopping_state_decides_the_next_epoch():
    es, model = early_stopping_on_a_model(patience=2)
    es.on_train_begin()
    best = [np.full(w.shape, 7.0, w.dtype) for w in model.get_weights()]
    compat.restore_early_stopping(es, {"wait": 1, "best": 0.5, "best_epoch": 3, "stopped_epoch": 0, "best_weights": best})
    es.on_epoch_end(5, {"val_loss": 0.9})  # worse than the restored best, and the second such epoch
    assert model.stop_training and es.stopped_epoch == 5, (
        "EarlyStopping ignored the restored wait/best: a resumed run would not stop when an unbroken one does"
    )
    es.on_train_end()
    assert all((w == 7.0).all() for w in model.get_weights()), "EarlyStopping ignored the restored best_weights"
