"""The peephole LSTM (Gers and Schmidhuber 2000) as a Keras RNN cell and layer; Keras ships none.

Peephole connections let the gates read the cell state: the input and forget
gates see the previous cell state, the output gate the new one, each through
a diagonal weight vector:

    i_t = sigmoid(x_t W_i + h_{t-1} U_i + p_i * c_{t-1} + b_i)
    f_t = sigmoid(x_t W_f + h_{t-1} U_f + p_f * c_{t-1} + b_f)
    c_t = f_t * c_{t-1} + i_t * tanh(x_t W_c + h_{t-1} U_c + b_c)
    o_t = sigmoid(x_t W_o + h_{t-1} U_o + p_o * c_t + b_o)
    h_t = o_t * tanh(c_t)

Kernel, recurrent kernel and bias keep `keras.layers.LSTM`'s layout (gates
i, f, c, o); the three peephole vectors come after them in `get_weights()`.
With zero peepholes (their default initialiser) the cell computes exactly
what `LSTM` computes with the same weights, so training starts from a plain
LSTM and learns how much to look at the cell.

Both classes are registered with Keras (package "rnn_recipes"): once this
module is imported, `keras.models.load_model` rebuilds a saved model with
`safe_mode` on, e.g.

    import rnn_recipes.cells  # registers PeepholeLSTM and PeepholeLSTMCell
    model = keras.models.load_model("runs/.../model.keras")

Example:
    >>> import numpy as np
    >>> layer = PeepholeLSTM(4, return_sequences=True)
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    TensorShape([2, 5, 4])
    >>> [w.shape for w in layer.get_weights()]
    [(3, 16), (4, 16), (16,), (4,), (4,), (4,)]
"""

from __future__ import annotations

import inspect

from rnn_recipes.backend import import_keras

keras = import_keras()
ops = keras.ops

PEEPHOLES = ("input_peephole", "forget_peephole", "output_peephole")  # after kernel, recurrent_kernel, bias


@keras.saving.register_keras_serializable(package="rnn_recipes")
class PeepholeLSTMCell(keras.layers.LSTMCell):
    """One step of the peephole LSTM; wrap it in `keras.layers.RNN` (or use `PeepholeLSTM`).

    It is `keras.layers.LSTMCell` (its arguments, weights and dropout masks)
    with three diagonal peephole weights and the step above.

    Args:
        units: size of the hidden and cell states.
        peephole_initializer: the peephole weights' initialiser (default zeros: a plain LSTM at the start).
        **kwargs: `keras.layers.LSTMCell`'s arguments (activation, initializers, regularizers, dropout, ...).
            Dropout draws one mask for all four gates; with recurrent dropout LSTMCell draws one per gate
            and the first serves all.

    Example:
        >>> import numpy as np
        >>> rnn = keras.layers.RNN(PeepholeLSTMCell(4))
        >>> rnn(np.ones((2, 3, 5), "float32")).shape
        TensorShape([2, 4])
    """

    def __init__(self, units, peephole_initializer="zeros", **kwargs):
        super().__init__(units, **kwargs)
        self.peephole_initializer = keras.initializers.get(peephole_initializer)

    def build(self, input_shape):
        super().build(input_shape)
        self.input_peephole, self.forget_peephole, self.output_peephole = (
            self.add_weight(shape=(self.units,), name=name, initializer=self.peephole_initializer)
            for name in PEEPHOLES
        )

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * _first(self.get_dropout_mask(inputs))
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_prev = h_prev * _first(self.get_recurrent_dropout_mask(h_prev))
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i + self.input_peephole * c_prev)
        f = self.recurrent_activation(z_f + self.forget_peephole * c_prev)
        c = f * c_prev + i * self.activation(z_c)
        o = self.recurrent_activation(z_o + self.output_peephole * c)  # the new cell state
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "peephole_initializer": keras.saving.serialize_keras_object(self.peephole_initializer)}


def _first(mask):
    """One dropout mask: LSTMCell keeps a list of four (one per gate) when recurrent dropout is on."""
    return mask[0] if isinstance(mask, (list, tuple)) else mask


# the cell's own arguments, which PeepholeLSTM passes on to it and lists in its config
CELL_ARGS = (
    *(p for p in inspect.signature(keras.layers.LSTMCell.__init__).parameters if p not in ("self", "units", "kwargs")),
    "peephole_initializer",
)


@keras.saving.register_keras_serializable(package="rnn_recipes")
class PeepholeLSTM(keras.layers.RNN):
    """The peephole LSTM over a sequence, with `keras.layers.LSTM`'s arguments (no cuDNN kernel exists).

    Args:
        units: size of the hidden and cell states.
        return_sequences, return_state, go_backwards, stateful, unroll: as `keras.layers.RNN`.
        **kwargs: the cell's arguments (`PeepholeLSTMCell`), then the layer's (name, dtype, ...).

    Example:
        >>> import numpy as np
        >>> bi = keras.layers.Bidirectional(PeepholeLSTM(3))
        >>> bi(np.zeros((1, 4, 2), "float32")).shape
        TensorShape([1, 6])
    """

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, **kwargs):
        cell_kwargs = {k: kwargs.pop(k) for k in CELL_ARGS if k in kwargs}
        cell = PeepholeLSTMCell(
            units, dtype=kwargs.get("dtype"), trainable=kwargs.get("trainable", True), name="peephole_lstm_cell",
            **cell_kwargs,
        )
        super().__init__(
            cell, return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            stateful=stateful, unroll=unroll, **kwargs,
        )
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, mask=mask, training=training, initial_state=initial_state)

    @property
    def units(self):
        return self.cell.units

    def get_config(self):
        cell = self.cell.get_config()
        config = {"units": self.units, **{k: cell[k] for k in CELL_ARGS}}
        base = super().get_config()
        del base["cell"]
        return {**base, **config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
