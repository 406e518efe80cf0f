"""Keras' IMDB reviews: imdb.npz read with bounds and checks, and processed exactly as `imdb.load_data` does."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from rnn_recipes.config_data import ImdbData
from rnn_recipes.dataset import TASK_OF_KIND, Dataset, DataSpec, split_tail
from rnn_recipes.errors import DataError
from rnn_recipes.fetch import download, max_data_bytes
from rnn_recipes.fileio import open_regular, sha256_file

IMDB_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"
IMDB_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
IMDB_SEED = 113  # Keras' shuffle seed, so our arrays match keras.datasets.imdb.load_data
START, OOV, INDEX_FROM = 1, 2, 3  # Keras' reserved ids: 0 is padding


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles NumPy object arrays of int lists and nothing else.

    imdb.npz stores reviews as pickled object arrays; a plain np.load with
    allow_pickle would run whatever code a crafted file carries.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a dataset file")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz, each member read only after its declared sizes fit the cap (no zip bomb)."""
    limit = max_data_bytes()
    arrays = {}
    with open_regular(path, limit, what="dataset file", error=DataError) as raw, zipfile.ZipFile(raw) as zf:
        infos = zf.infolist()
        if sum(i.file_size for i in infos) > limit:
            raise DataError(f"{path}: its arrays unpack to more than {limit:,} bytes (zip bomb?); refused (raise RNN_MAX_DATA_MB if real)")
        for info in infos:
            with zf.open(info) as fh:
                data = fh.read(limit + 1)
            if len(data) > info.file_size or len(data) > limit:  # a member larger than its header says
                raise DataError(f"{path}: {info.filename} unpacks past its declared size; refused")
            buf = io.BytesIO(data)
            version = np.lib.format.read_magic(buf)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(buf)
            count = int(np.prod(shape, dtype=object))
            if not dtype.hasobject and count * dtype.itemsize > len(data):  # e.g. a header declaring 10^15
                raise DataError(f"{path}: {info.filename} declares {count:,} elements, more than the file holds; refused")
            if dtype.hasobject:
                arrays[info.filename.removesuffix(".npy")] = _ArrayUnpickler(buf).load()
            else:
                arrays[info.filename.removesuffix(".npy")] = np.lib.format.read_array(io.BytesIO(data))
    return arrays


def _check_imdb_arrays(path: Path, parts: dict[str, np.ndarray]) -> None:
    """Reviews are sequences of non-negative integer word ids; labels numbers, one per review."""
    for split in ("train", "test"):
        xs, ys = parts[f"x_{split}"], parts[f"y_{split}"]
        if not isinstance(xs, np.ndarray) or not isinstance(ys, np.ndarray) or xs.ndim < 1 or ys.ndim != 1:
            raise DataError(f"{path}: x_{split} and y_{split} must be arrays of reviews and of labels")
        if len(xs) != len(ys):
            raise DataError(f"{path}: x_{split} holds {len(xs)} reviews but y_{split} {len(ys)} labels; expected one label per review")
        if ys.dtype.kind not in "biuf":
            raise DataError(f"{path}: y_{split} holds {ys.dtype} values; expected 0/1 labels")
        if ys.dtype.kind == "f" and not np.isfinite(ys).all():
            raise DataError(f"{path}: y_{split} holds non-finite labels")
        for i, review in enumerate(xs):
            ids = np.asarray(review) if not isinstance(review, np.ndarray) else review
            if ids.dtype.kind not in "iu" or ids.ndim != 1:
                raise DataError(f"{path}: x_{split}[{i}] is not a list of integer word ids ({ids.dtype}); refused")
            if ids.size and ids.min() < 0:
                raise DataError(f"{path}: x_{split}[{i}] holds negative word id {int(ids.min())}; word ids are 0 or more")


def imdb_cache_path() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "imdb.npz"


def _imdb_file(d: ImdbData) -> Path:
    if d.path is not None:
        path = Path(d.path).expanduser()
        if not path.exists():
            raise DataError(f"IMDB file not found: {path} (data.path); expected Keras' imdb.npz")
        return path  # _read_npz refuses anything but a regular file
    path = imdb_cache_path()
    if path.is_file() and sha256_file(path) == IMDB_SHA256:
        return path
    try:
        download(IMDB_URL, path, IMDB_SHA256)
    except OSError as exc:
        raise DataError(
            f"IMDB is not cached and could not be downloaded ({exc}); "
            f"put Keras' imdb.npz at {path} or set data.path"
        ) from None
    return path


def load_imdb(d: ImdbData, seed: int) -> Dataset:
    """Keras' IMDB reviews, processed exactly as keras.datasets.imdb.load_data does.

    Ids: 0 padding, 1 start of review, 2 out of vocabulary, 3+ words by
    frequency. Reviews are padded/truncated to `maxlen`; the validation split
    comes from the end of the (shuffled) training set.
    """
    path = _imdb_file(d)
    try:
        raw = _read_npz(path)
        parts = {k: raw[k] for k in ("x_train", "y_train", "x_test", "y_test")}
        _check_imdb_arrays(path, parts)
    except (KeyError, ValueError, TypeError, OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, MemoryError, RecursionError) as exc:
        raise DataError(
            f"{path}: not a valid imdb.npz ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
            "expected arrays x_train, y_train, x_test, y_test"
        ) from None
    rng = np.random.RandomState(IMDB_SEED)
    splits = []
    for xs, ys in ((parts["x_train"], parts["y_train"]), (parts["x_test"], parts["y_test"])):
        order = np.arange(len(xs))
        rng.shuffle(order)
        xs, ys = xs[order], ys[order]
        if d.limit is not None:
            xs, ys = xs[: d.limit], ys[: d.limit]
        splits.append((_encode_reviews(xs, d), ys.astype("float32")))
    (x_train, y_train), (x_test, y_test) = splits
    x_train, y_train, x_val, y_val = split_tail(x_train, y_train, d.val_split)
    return Dataset(imdb_spec(d), x_train, y_train, x_val, y_val, x_test, y_test)


def imdb_spec(d: ImdbData) -> DataSpec:
    return DataSpec(TASK_OF_KIND[d.kind], d.maxlen, vocab_size=d.num_words)


def _encode_reviews(reviews: np.ndarray, d: ImdbData) -> np.ndarray:
    out = np.zeros((len(reviews), d.maxlen), dtype="int32")
    for i, review in enumerate(reviews):
        ids = np.asarray([START, *(w + INDEX_FROM for w in review)], dtype="int64")
        ids[ids >= d.num_words] = OOV
        ids = ids[-d.maxlen :] if d.truncating == "pre" else ids[: d.maxlen]
        if d.padding == "pre":
            out[i, d.maxlen - len(ids) :] = ids
        else:
            out[i, : len(ids)] = ids
    return out
