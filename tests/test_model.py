"""Model building: exact parameter counts and shapes over cell x bidirectional x encoding."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CONFIGS
from rnn_recipes.config import Config, load_config
from rnn_recipes.data import DataSpec, data_spec
from rnn_recipes.model import build_model


def rnn_params(cell: str, d: int, u: int) -> int:
    """Weights of one recurrent layer reading d features with u units (Keras layouts)."""
    return {
        "simple_rnn": u * (d + u + 1),
        "lstm": 4 * u * (d + u + 1),
        "gru": 3 * u * (d + u + 2),  # reset_after=True keeps two bias vectors
    }[cell]


def make(data: dict, encoding: dict | None = None, **model) -> Config:
    raw = {"data": data, "model": model}
    if encoding:
        raw["encoding"] = encoding
    return Config.model_validate(raw)


def test_seed_integer_model_has_1121_parameters():
    cfg = load_config(CONFIGS / "imdb_simplernn_integer.yaml")
    model = build_model(cfg, data_spec(cfg))
    assert model.count_params() == 1_088 + 33
    assert model.get_layer("ids_as_numbers").output.shape == (None, 100, 1)


def test_seed_embedding_model_has_21153_parameters():
    cfg = load_config(CONFIGS / "imdb_simplernn_embedding.yaml")
    model = build_model(cfg, data_spec(cfg))
    assert model.count_params() == 20_000 + 1_120 + 33
    assert [l.count_params() for l in model.layers[1:]] == [20_000, 1_120, 33]


V, T, U, E = 50, 12, 6, 4


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("encoding", ["integer", "onehot", "embedding"])
def test_parameter_count_and_output_shape(cell, bidirectional, encoding):
    cfg = make(
        {"kind": "imdb", "num_words": V, "maxlen": T},
        {"kind": encoding, "dim": E},
        cell=cell, units=U, bidirectional=bidirectional,
    )
    model = build_model(cfg, DataSpec("binary", T, vocab_size=V))
    d = {"integer": 1, "onehot": V, "embedding": E}[encoding]
    directions = 2 if bidirectional else 1
    expected = (V * E if encoding == "embedding" else 0) + directions * rnn_params(cell, d, U) + directions * U + 1
    assert model.count_params() == expected
    x = np.random.default_rng(0).integers(0, V, (3, T))
    out = model(x)
    assert tuple(out.shape) == (3, 1)
    assert np.all((0 <= np.asarray(out)) & (np.asarray(out) <= 1))


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_stacked_layers_pass_sequences_and_count(cell):
    cfg = make({"kind": "sine", "time_steps": 10}, cell=cell, units=U, layers=3)
    model = build_model(cfg, DataSpec("regression", 10))
    rnns = [l for l in model.layers if l.name.startswith(cell)]
    assert [l.return_sequences for l in rnns] == [True, True, False]
    assert model.count_params() == rnn_params(cell, 1, U) + 2 * rnn_params(cell, U, U) + U + 1


def test_many_to_many_text_predicts_every_step():
    cfg = make({"kind": "text", "text": "abcabc", "seq_length": 4, "objective": "many_to_many"}, {"kind": "embedding", "dim": 3}, cell="gru", units=5)
    spec = DataSpec("next_token", 4, vocab_size=3, num_classes=3, sequence_output=True)
    out = np.asarray(build_model(cfg, spec)(np.zeros((2, 4), "int32")))
    assert out.shape == (2, 4, 3)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)


def test_dense_head_and_regularisation_are_wired():
    cfg = make({"kind": "sine", "time_steps": 5}, cell="lstm", units=4, dense_units=3, l2=0.01)
    model = build_model(cfg, DataSpec("regression", 5))
    assert model.get_layer("hidden").units == 3
    assert model.get_layer("lstm_0").kernel_regularizer is not None
    model(np.zeros((1, 5, 1), "float32"))
    assert len(model.losses) == 2  # kernel and recurrent L2 terms


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_bundled_config_builds(path):
    cfg = load_config(path)
    model = build_model(cfg, data_spec(cfg))
    assert model.count_params() > 0


def test_jit_compile_auto_is_on_only_where_it_measured_faster():
    import tensorflow as tf

    from rnn_recipes.model import use_jit

    cpu = not tf.config.list_physical_devices("GPU")
    imdb = {"kind": "imdb", "maxlen": 50}
    assert use_jit(make(imdb, cell="lstm")) is cpu  # one batch shape, one direction
    assert use_jit(make(imdb, {"kind": "embedding", "mask_zero": True}, cell="lstm")) is False  # bucketed widths
    assert use_jit(make(imdb, cell="lstm", bidirectional=True)) is False  # TF runs both directions at once
    precision = lambda p: Config.model_validate({"data": imdb, "train": {"precision": p}})  # noqa: E731
    assert use_jit(precision("mixed_bfloat16")) is False  # XLA's bfloat16 code measured slower on a CPU
    assert use_jit(precision("mixed_float16")) is cpu
    forced = Config.model_validate({"data": imdb, "model": {"cell": "gru"}, "train": {"jit_compile": True}})
    assert use_jit(forced) is True
    model = build_model(forced, DataSpec("binary", 50, vocab_size=10_000))
    assert model.get_layer("gru_0").use_cudnn is False  # else Keras refuses to compile it with XLA
    assert model.get_layer("gru_0").supports_jit
