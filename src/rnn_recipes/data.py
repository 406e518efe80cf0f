"""Datasets: IMDB reviews, a text corpus, series (the seed's sine, CSV files) and labelled text, as arrays.

Each loader turns a validated data config into a `Dataset` of NumPy arrays.
Token data is integer ids of shape (N, T); series are float values of shape
(N, T, features), windowed by `rnn_recipes.series`. Nothing here imports TensorFlow except the IMDB download;
labelled text (`labelled_text.py`) is vectorized by Keras.
"""

from __future__ import annotations

import io
import os
import pickle
import urllib.request
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np

from rnn_recipes import series
from rnn_recipes.codec import TextCodec
from rnn_recipes.config import Config, ImdbData, SeriesData, SineData, TextData
from rnn_recipes.dataset import Dataset, DataSpec
from rnn_recipes.errors import DataError
from rnn_recipes.fileio import sha256_file

IMDB_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"
IMDB_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
IMDB_SEED = 113  # Keras' shuffle seed, so our arrays match keras.datasets.imdb.load_data
START, OOV, INDEX_FROM = 1, 2, 3  # Keras' reserved ids: 0 is padding
# the task each kind of data poses; `rnn_recipes.tasks` says what a task means
TASK_OF_KIND = {
    "imdb": "binary", "text": "next_token", "sine": "regression", "series": "regression", "labelled_text": "multiclass",
}


def load_dataset(cfg: Config) -> Dataset:
    """Load the dataset `cfg.data` names."""
    from rnn_recipes.labelled_text import load_labelled_text  # reads through labelled.py and Keras' vectorizer

    loaders = {
        "imdb": load_imdb, "text": load_text, "sine": load_series, "series": load_series,
        "labelled_text": load_labelled_text,
    }
    return loaders[cfg.data.kind](cfg.data, cfg.seed)


def task_name(cfg: Config) -> str:
    """The name of the task `cfg`'s data poses, without reading any data."""
    return TASK_OF_KIND[cfg.data.kind]


def data_spec(cfg: Config) -> DataSpec:
    """The model-facing shape of the data, cheaply (text reads its corpus, labelled text its training split;
    nothing downloads)."""
    if cfg.data.kind == "labelled_text":  # the vocabulary's size depends on the seeded split
        return load_dataset(cfg).spec
    specs = {"imdb": imdb_spec, "text": text_spec, "sine": series_spec, "series": series_spec}
    return specs[cfg.data.kind](cfg.data)


def _split_tail(x: np.ndarray, y: np.ndarray, frac: float) -> tuple[np.ndarray, ...]:
    """Hold out the last `frac` of (x, y): (x_train, y_train, x_val, y_val)."""
    n_val = int(round(len(x) * frac))
    cut = len(x) - n_val
    return x[:cut], y[:cut], x[cut:], y[cut:]


# --- IMDB --------------------------------------------------------------------


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
    arrays = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            with zf.open(name) as fh:
                buf = io.BytesIO(fh.read())
            version = np.lib.format.read_magic(buf)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            _, _, dtype = read_header(buf)
            if dtype.hasobject:
                arrays[name.removesuffix(".npy")] = _ArrayUnpickler(buf).load()
            else:
                arrays[name.removesuffix(".npy")] = np.lib.format.read_array(io.BytesIO(buf.getvalue()))
    return arrays


def imdb_cache_path() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "imdb.npz"


def _imdb_file(d: ImdbData) -> Path:
    if d.path is not None:
        path = Path(d.path).expanduser()
        if not path.is_file():
            raise DataError(f"IMDB file not found: {path} (data.path); expected Keras' imdb.npz")
        return path
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
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"{path}: not a valid imdb.npz ({exc}); expected arrays x_train, y_train, x_test, y_test") from None
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
    x_train, y_train, x_val, y_val = _split_tail(x_train, y_train, d.val_split)
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


# --- text --------------------------------------------------------------------


def default_corpus() -> str:
    """The corpus shipped with the package, so the demo needs no download."""
    return resources.files("rnn_recipes").joinpath("corpus.txt").read_text(encoding="utf-8")


def cache_dir() -> Path:
    return Path(os.environ.get("RNN_RECIPES_CACHE", Path.home() / ".cache" / "rnn-recipes"))


def download(url: str, dest: Path, sha256: str) -> Path:
    """Download `url` to `dest` through a temporary file; keep it only if the hash matches.

    A partial or corrupt download never lands at `dest`.
    """
    if not url.startswith(("https://", "http://")):
        raise DataError(f"unsupported url {url!r}; expected http(s)://")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as fh:
            while block := resp.read(1 << 20):
                fh.write(block)
        got = sha256_file(tmp)
        if got != sha256:
            raise DataError(f"{url}: sha256 mismatch: expected {sha256}, got {got}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def read_corpus(d: TextData, allow_download: bool = True) -> str:
    """The corpus text: inline, a local file, a cached download, or the bundled default."""
    if d.text is not None:
        return d.text
    if d.path is not None:
        path = Path(d.path).expanduser()
        if not path.is_file():
            raise DataError(f"text file not found: {path} (data.path)")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if d.url is not None:
        return _fetched(d.url, d.sha256, allow_download).read_text(encoding="utf-8")
    return default_corpus()


def _fetched(url: str, sha256: str, allow_download: bool = True) -> Path:
    """The cached copy of `url`, downloaded first if it is missing or altered."""
    path = cache_dir() / sha256
    if not (path.is_file() and sha256_file(path) == sha256):
        if not allow_download:
            raise DataError(f"{url} is not downloaded yet; run `rnn train` once to fetch it")
        try:
            download(url, path, sha256)
        except OSError as exc:
            raise DataError(f"cannot download {url} ({exc}); put the file at {path}") from None
    return path


def windows(ids: np.ndarray, seq_length: int, step: int, many_to_many: bool) -> tuple[np.ndarray, np.ndarray]:
    """Windows of `seq_length` ids and their targets: the next id, or every next id."""
    if len(ids) <= seq_length:
        return np.zeros((0, seq_length), "int32"), np.zeros((0, seq_length) if many_to_many else (0,), "int32")
    view = np.lib.stride_tricks.sliding_window_view(ids, seq_length + 1)[::step]
    x = np.ascontiguousarray(view[:, :-1])
    y = np.ascontiguousarray(view[:, 1:] if many_to_many else view[:, -1])
    return x, y


def load_text(d: TextData, seed: int) -> Dataset:
    """A corpus cut into windows. Validation and test text come from its end, so
    overlapping windows never leak training text into them."""
    text = read_corpus(d)
    codec = TextCodec.fit(text, d)
    tokens = codec.tokenize(text)
    if len(tokens) <= d.seq_length:
        raise DataError(
            f"the corpus has {len(tokens)} tokens; data.seq_length ({d.seq_length}) needs at least {d.seq_length + 1}"
        )
    ids = codec.encode(tokens)
    n = len(ids)
    n_test, n_val = int(n * d.test_split), int(n * d.val_split)
    bounds = [0, n - n_val - n_test, n - n_test, n]
    parts = [windows(ids[a:b], d.seq_length, d.step, d.objective == "many_to_many") for a, b in zip(bounds, bounds[1:])]
    for name, frac, (x, _) in (("val_split", d.val_split, parts[1]), ("test_split", d.test_split, parts[2])):
        if frac > 0 and len(x) == 0:
            raise DataError(
                f"data.{name} ({frac}) leaves fewer than seq_length + 1 = {d.seq_length + 1} tokens; "
                f"raise it, lower data.seq_length, or set it to 0"
            )
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = parts
    test_name = "test"
    if len(x_test) == 0:  # too little text to hold out: report on the training windows, and say so
        x_test, y_test, test_name = x_train, y_train, "train"
    spec = DataSpec(TASK_OF_KIND[d.kind], d.seq_length, len(codec), len(codec), d.objective == "many_to_many")
    return Dataset(spec, x_train, y_train, x_val, y_val, x_test, y_test, test_name, codec)


def text_spec(d: TextData) -> DataSpec:
    codec = TextCodec.fit(read_corpus(d, allow_download=False), d)
    return DataSpec(TASK_OF_KIND[d.kind], d.seq_length, len(codec), len(codec), d.objective == "many_to_many")


# --- series: the seed's sine and CSV files ------------------------------------


def load_series(d: SineData | SeriesData, seed: int) -> Dataset:
    """The seed's sine or a CSV series, windowed alike by `rnn_recipes.series`."""
    w = series.load(d, seed, _series_path(d))
    return Dataset(series_spec(d, (w.features, w.targets)), *w.arrays, extra={"persistence": w.persistence}, series=w.info)


def series_spec(d: SineData | SeriesData, widths: tuple[int, int] | None = None) -> DataSpec:
    """The model answers `horizon` steps per call (direct) or one (recursive); `widths` = (features, targets)."""
    features, targets = widths or series.widths(d, _series_path(d, allow_download=False))
    horizon = d.horizon if d.strategy == "direct" else 1
    return DataSpec(TASK_OF_KIND[d.kind], d.time_steps, features=features, targets=targets, horizon=horizon)


def _series_path(d: SineData | SeriesData, allow_download: bool = True) -> Path | None:
    if isinstance(d, SeriesData):  # the sine is computed, not read
        return Path(d.path).expanduser() if d.path else _fetched(d.url, d.sha256, allow_download)
