"""Datasets: IMDB reviews, a text corpus, series (the seed's sine, CSV files), labelled and tagged text, timing, and pairs, as arrays.

Each loader turns a validated data config into a `Dataset` of NumPy arrays.
Token data is integer ids of shape (N, T); series are float values of shape
(N, T, features), windowed by `rnn_recipes.series`. Nothing here imports TensorFlow except the IMDB download;
labelled text (`labelled_text.py`) is vectorized by Keras.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from rnn_recipes import series
from rnn_recipes.codec import TextCodec
from rnn_recipes.config import Config
from rnn_recipes.config_data import SeriesData, SineData, TextData
from rnn_recipes.dataset import TASK_OF_KIND, Dataset, DataSpec
from rnn_recipes.errors import DataError
from rnn_recipes.fetch import fetched, max_data_bytes
from rnn_recipes.fileio import read_text_bounded
from rnn_recipes.imdb import imdb_spec, load_imdb
from rnn_recipes.timing import load_timing, timing_spec



def load_dataset(cfg: Config) -> Dataset:
    """Load the dataset `cfg.data` names."""
    from rnn_recipes.labelled_text import load_labelled_text  # reads through labelled.py and Keras' vectorizer
    from rnn_recipes.pairs import load_addition, load_pairs
    from rnn_recipes.tagged import load_tagged

    loaders = {
        "imdb": load_imdb, "text": load_text, "sine": load_series, "series": load_series,
        "labelled_text": load_labelled_text, "timing": load_timing, "tagged": load_tagged,
        "pairs": load_pairs, "addition": load_addition,
    }
    return loaders[cfg.data.kind](cfg.data, cfg.seed)


def task_name(cfg: Config) -> str:
    """The name of the task `cfg`'s data poses, without reading any data."""
    return TASK_OF_KIND[cfg.data.kind]


def data_spec(cfg: Config) -> DataSpec:
    """The model-facing shape of the data, cheaply (text reads its corpus, labelled text its training split;
    nothing downloads)."""
    if cfg.data.kind in ("labelled_text", "tagged", "pairs"):  # the vocabulary's size depends on the seeded split
        return load_dataset(cfg).spec
    from rnn_recipes.pairs import addition_spec

    specs = {"imdb": imdb_spec, "text": text_spec, "sine": series_spec, "series": series_spec, "timing": timing_spec,
             "addition": addition_spec}
    return specs[cfg.data.kind](cfg.data)


# --- text --------------------------------------------------------------------


def default_corpus() -> str:
    """The corpus shipped with the package, so the demo needs no download."""
    return resources.files("rnn_recipes").joinpath("corpus.txt").read_text(encoding="utf-8")


def _read_corpus_file(path: Path) -> str:
    return read_text_bounded(path, max_data_bytes(), what="corpus", error=DataError)


def read_corpus(d: TextData, allow_download: bool = True) -> str:
    """The corpus text: inline, a local file, a cached download, or the bundled default.

    Every file is read only if it is a regular file within the size cap
    (`max_data_bytes`): a FIFO, a device or a directory is refused at once.
    """
    if d.text is not None:
        return d.text
    if d.path is not None:
        path = Path(d.path).expanduser()
        if not path.exists():
            raise DataError(f"text file not found: {path} (data.path)")
        return _read_corpus_file(path)
    if d.url is not None:
        path = fetched(d.url, d.sha256, allow_download, check=_read_corpus_file)
        try:
            return _read_corpus_file(path)
        except DataError:
            path.unlink(missing_ok=True)  # a cached file that is not UTF-8 would be refused forever
            raise
    return default_corpus()


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
        return Path(d.path).expanduser() if d.path else fetched(d.url, d.sha256, allow_download)
