"""Model building: exact parameter counts and shapes over cell x bidirectional x encoding."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CONFIGS
from rnn_recipes.config import Config
from rnn_recipes.config_load import load_config
from rnn_recipes.data import DataSpec, data_spec
from rnn_recipes.model import build_model


def rnn_params(cell: str, d: int, u: int) -> int:
    """Weights of one recurrent layer reading d features with u units (Keras layouts)."""
    return {
        "simple_rnn": u * (d + u + 1),
        "lstm": 4 * u * (d + u + 1),
        "gru": 3 * u * (d + u + 2),  # reset_after=True keeps two bias vectors
        "peephole_lstm": 4 * u * (d + u + 1) + 3 * u,  # an LSTM's weights and one peephole vector per i, f, o gate
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


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru", "peephole_lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("encoding", ["integer", "onehot", "embedding"])
def test_parameter_count_and_output_shape(cell, bidirectional, encoding):
    cfg = make(
        {"kind": "imdb", "num_words": V, "maxlen": T},
        {"kind": encoding, **({"dim": E} if encoding == "embedding" else {})},  # dim belongs to embeddings only
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


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru", "peephole_lstm"])
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
    if cfg.data.kind == "text" and cfg.data.url:  # a download: no test touches the network
        d = cfg.data
        spec = DataSpec("next_token", d.seq_length, 65, 65, d.objective == "many_to_many")  # 65: a stand-in alphabet
    else:
        spec = data_spec(cfg)
    model = build_model(cfg, spec)
    assert model.count_params() > 0


def test_jit_compile_auto_is_on_only_where_it_measured_faster():
    import tensorflow as tf

    from rnn_recipes.runtime import use_jit

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


@pytest.mark.parametrize("cell,bidirectional", [("lstm", False), ("gru", True)])
def test_with_mask_zero_pre_and_post_padding_give_the_same_predictions(cell, bidirectional):
    """Why the masked IMDB configs pad 'post': it computes what 'pre' does, and cuDNN accepts it."""
    embedding = {"kind": "embedding", "dim": 8, "mask_zero": True}
    pre = make({"kind": "imdb", "maxlen": 12, "padding": "pre"}, embedding, cell=cell, units=6, bidirectional=bidirectional)
    post = make({"kind": "imdb", "maxlen": 12, "padding": "post"}, embedding, cell=cell, units=6, bidirectional=bidirectional)
    spec = DataSpec("binary", 12, vocab_size=50)
    m_pre, m_post = build_model(pre, spec), build_model(post, spec)
    m_post.set_weights(m_pre.get_weights())
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 13, 16)
    tokens = rng.integers(3, 50, (16, 12))
    cols = np.arange(12)
    x_post = np.where(cols < lengths[:, None], tokens, 0)
    x_pre = np.stack([np.roll(row, 12 - n) for row, n in zip(x_post, lengths, strict=True)])
    assert ((x_pre != 0).sum(1) == lengths).all() and (x_pre[:, -1] != 0).all()
    np.testing.assert_allclose(m_pre.predict(x_pre, verbose=0), m_post.predict(x_post, verbose=0), atol=1e-6)


def test_on_a_gpu_masked_pre_padded_layers_stay_off_cudnn_and_say_why(monkeypatch):
    import rnn_recipes.runtime as model_module
    from rnn_recipes.runtime import cudnn_blocker

    monkeypatch.setattr(model_module, "has_gpu", lambda: True)  # no GPU here: the choice, not the kernel, is tested
    embedding = {"kind": "embedding", "mask_zero": True}
    spec = DataSpec("binary", 20, vocab_size=100)
    pre = make({"kind": "imdb", "maxlen": 20, "padding": "pre"}, embedding, cell="lstm")
    post = make({"kind": "imdb", "maxlen": 20, "padding": "post"}, embedding, cell="lstm")
    # Keras would pick cuDNN for `pre` too, then fail its right-padding assertion inside fit
    assert build_model(pre, spec).get_layer("lstm_0").use_cudnn is False
    assert build_model(post, spec).get_layer("lstm_0").use_cudnn == "auto"
    assert cudnn_blocker(pre).startswith("masked reviews padded 'pre' cannot take the cuDNN kernel")
    assert cudnn_blocker(post) is None
    assert cudnn_blocker(make({"kind": "imdb"}, cell="simple_rnn")) == "SimpleRNN has no cuDNN kernel"
    assert "recurrent_dropout" in cudnn_blocker(make({"kind": "imdb"}, cell="gru", recurrent_dropout=0.1))


def test_the_bundled_masked_imdb_configs_are_cudnn_eligible():
    masked = [p for p in sorted(CONFIGS.glob("imdb_*.yaml")) if load_config(p).encoding.mask_zero]
    assert len(masked) == 4
    for path in masked:
        from rnn_recipes.runtime import cudnn_blocker

        assert cudnn_blocker(load_config(path)) is None, path.name
