"""Datasets: IMDB exactly as Keras prepares it, text windows, the sine seed series."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from conftest import TINY
from imdb_fixture import write_imdb_npz
from rnn_recipes.config import Config
from rnn_recipes.data import DataError, load_dataset, windows
from rnn_recipes.series import sine_windows


def cfg_of(data: dict, **extra) -> Config:
    return Config.model_validate({"data": data, **extra})


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
def test_imdb_matches_keras_load_data_and_pad_sequences(tmp_path, monkeypatch, padding, truncating):
    import keras
    import keras.src.datasets.imdb as keras_imdb

    path = write_imdb_npz(tmp_path / "imdb.npz", n_train=60, n_test=40, seed=3)
    monkeypatch.setattr(keras_imdb, "get_file", lambda *a, **k: str(path))  # no download, same file
    (kx_train, ky_train), (kx_test, ky_test) = keras.datasets.imdb.load_data(num_words=120)
    pad = dict(maxlen=20, padding=padding, truncating=truncating)

    ds = load_dataset(cfg_of({"kind": "imdb", "path": str(path), "num_words": 120, "val_split": 0.25, **pad}))
    np.testing.assert_array_equal(np.concatenate([ds.x_train, ds.x_val]), keras.utils.pad_sequences(kx_train, **pad))
    np.testing.assert_array_equal(np.concatenate([ds.y_train, ds.y_val]), ky_train)
    np.testing.assert_array_equal(ds.x_test, keras.utils.pad_sequences(kx_test, **pad))
    np.testing.assert_array_equal(ds.y_test, ky_test)
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (45, 15, 40)
    assert ds.x_train.max() < 120 and ds.spec.vocab_size == 120


def test_imdb_limit_takes_a_subset():
    ds = load_dataset(cfg_of({"kind": "imdb", "path": str(TINY / "data/imdb_tiny.npz"), "limit": 50, "val_split": 0.2}))
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (40, 10, 50)


def test_imdb_file_that_smuggles_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "evil.npz"
    with open(tmp_path / "x_train.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        pickle.dump(np.array([Evil()], dtype=object), fh)
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        zf.write(tmp_path / "x_train.npy", "x_train.npy")
    with pytest.raises(DataError, match="builtins.print is not allowed"):
        load_dataset(cfg_of({"kind": "imdb", "path": str(path)}))


def test_imdb_missing_file_says_what_to_provide(tmp_path):
    with pytest.raises(DataError, match=r"IMDB file not found: .*nope.npz \(data.path\); expected Keras' imdb.npz"):
        load_dataset(cfg_of({"kind": "imdb", "path": str(tmp_path / "nope.npz")}))


def test_text_windows_follow_the_seed():
    ds = load_dataset(cfg_of({"kind": "text", "text": "hello world", "seq_length": 3, "val_split": 0}))
    decode = lambda ids: "".join(ds.vocab[i] for i in ids)  # noqa: E731
    assert [decode(x) for x in ds.x_train[:3]] == ["hel", "ell", "llo"]
    assert decode(ds.y_train) == "lo world"
    assert ds.vocab == sorted(set("hello world")) and ds.test_name == "train"


def test_text_many_to_many_targets_are_shifted_windows():
    x, y = windows(np.arange(10), 4, 3, many_to_many=True)
    np.testing.assert_array_equal(x, [[0, 1, 2, 3], [3, 4, 5, 6]])
    np.testing.assert_array_equal(y, [[1, 2, 3, 4], [4, 5, 6, 7]])


def test_text_validation_text_comes_after_training_text():
    text = "abcdefghij" * 20
    ds = load_dataset(cfg_of({"kind": "text", "text": text, "seq_length": 5, "val_split": 0.2, "test_split": 0.1}))
    # 200 chars: train 140, val 40, test 20 -> windows that fit in each part
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (135, 35, 15)


def test_text_too_short_for_a_window():
    with pytest.raises(DataError, match=r"the corpus has 2 tokens; data.seq_length \(3\) needs at least 4"):
        load_dataset(cfg_of({"kind": "text", "text": "hi", "seq_length": 3, "val_split": 0}))


def test_word_level_vocabulary_with_unknown_token():
    ds = load_dataset(cfg_of({"kind": "text", "text": "a b a c a b d", "level": "word", "max_vocab": 3, "seq_length": 2, "val_split": 0}))
    assert ds.vocab == ["<unk>", "a", "b"]
    assert ds.vocab[ds.x_train[2][1]] == "<unk>"  # "c"


def test_default_corpus_needs_no_download():
    ds = load_dataset(cfg_of({"kind": "text", "seq_length": 10, "step": 5}))
    assert len(ds.x_train) > 500 and len(ds.vocab) > 30


def test_sine_is_the_seed_series_with_a_persistence_baseline():
    ds = load_dataset(cfg_of({"kind": "sine"}))
    assert ds.x_train.shape == (225, 25, 1) and ds.y_train.shape == (225, 1)
    np.testing.assert_allclose(ds.x_train[0, :, 0], np.sin(np.arange(25)), rtol=1e-6)
    np.testing.assert_allclose(ds.y_test[-1, 0], np.sin(399), rtol=1e-6)
    assert ds.x_test.shape == (75, 25, 1)
    last = ds.x_test[:, -1, 0]
    assert ds.extra["persistence"]["mse"] == pytest.approx(float(np.mean((last - ds.y_test[:, 0]) ** 2)))


def test_sine_windows():
    x, y = sine_windows(np.arange(6.0), 4)
    assert x.shape == (2, 4, 1) and y.tolist() == [[4.0], [5.0]]
