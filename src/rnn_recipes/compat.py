"""Every use of a Keras or TensorFlow internal, in one place, each pinned by a test (tests/test_compat.py).

An upgrade that moves or changes one of these makes its test fail with a
message naming what changed, instead of a run failing (or, worse, silently
resuming wrong) somewhere in the middle of training.

- `disable_op_determinism`: TensorFlow's public API turns op determinism
  on but not off; the switch off is private.
- `keras_ready_strategy`: a tf.distribute strategy subclass overriding
  `reduce`, for what Keras 3 hands it (keras-team/keras#20585).
- `restore_early_stopping`: writes EarlyStopping's counters and best weights,
  which Keras keeps as plain attributes with no API to set them.

Nothing here imports TensorFlow until a function needs it.
"""

from __future__ import annotations

# EarlyStopping's attributes a resumed run reads and writes back: its whole decision state
EARLY_STOPPING_STATE = ("wait", "best", "best_epoch", "stopped_epoch", "best_weights")


def disable_op_determinism() -> None:
    """Turn TensorFlow's process-wide op determinism off (its public API only turns it on)."""
    from tensorflow.python.framework.config import disable_op_determinism as disable

    disable()


def keras_ready_strategy(base):
    """`base` (a tf.distribute strategy class) with a `reduce` that takes what Keras 3 hands it.

    Before training, Keras 3 "reduces" a whole first batch (x, y) with MEAN
    only to learn its shapes and dtypes. That fails when the batch splits
    unevenly (11 examples on 2 replicas), and MultiWorkerMirroredStrategy
    rejects the nested batch and the scalar logs Keras reduces along axis 0
    (keras-team/keras#20585). So: a nested value reduced without an axis
    gives this replica's part (its shapes are all Keras uses), and other
    values are reduced leaf by leaf, scalars without an axis.
    """
    import tensorflow as tf

    class KerasReady(base):
        def reduce(self, reduce_op, value, axis):
            if axis is None and tf.nest.is_nested(value):
                return tf.nest.map_structure(lambda v: self.experimental_local_results(v)[0], value)

            def one(v):
                rank = self.experimental_local_results(v)[0].shape.rank
                return super(KerasReady, self).reduce(reduce_op, v, axis if rank else None)

            return tf.nest.map_structure(one, value)

    KerasReady.__name__ = base.__name__
    return KerasReady


def restore_early_stopping(es, saved: dict) -> None:
    """Put a checkpoint's early-stopping state (`EARLY_STOPPING_STATE` keys) back into the callback `es`.

    Call it after `EarlyStopping.on_train_begin`, which resets these.
    """
    for name in EARLY_STOPPING_STATE:
        setattr(es, name, saved[name])


def observe_gradient_clipping(optimizer, observe) -> None:
    """Call `observe(grads)` on every step's gradients just before `optimizer` clips them.

    Keras has no hook there, so this wraps the private `Optimizer._clip_gradients`
    (of the inner optimizer of a mixed_float16 LossScaleOptimizer);
    tests/test_controls.py fails loudly if an upgrade renames it.
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    original = inner._clip_gradients

    def clip_gradients(grads):
        observe(grads)
        return original(grads)

    inner._clip_gradients = clip_gradients

