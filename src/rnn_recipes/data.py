"""Datasets: IMDB reviews, a text corpus and a sine series, as train/val/test arrays.

Each loader turns a validated data config into a `Dataset` of NumPy arrays.
Token data is integer ids of shape (N, T); sine data is float values of shape
(N, T, 1). Nothing here imports TensorFlow except the IMDB download.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import pickle
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from rnn_recipes import tasks
from rnn_recipes.codec import TextCodec
from rnn_recipes.config import Config, ImdbData, SineData, TextData
from rnn_recipes.errors import DataError
from rnn_recipes.fileio import open_regular, read_text_bounded, sha256_file

IMDB_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"
IMDB_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
IMDB_SEED = 113  # Keras' shuffle seed, so our arrays match keras.datasets.imdb.load_data
START, OOV, INDEX_FROM = 1, 2, 3  # Keras' reserved ids: 0 is padding
# the task each kind of data poses; `rnn_recipes.tasks` says what a task means
TASK_OF_KIND = {"imdb": "binary", "text": "next_token", "sine": "regression"}


@dataclass(frozen=True)
class DataSpec:
    """What the model needs to know about the data, without the data itself.

    Attributes:
        task: the name of the task the data poses, a key of `rnn_recipes.tasks.TASKS`.
        seq_len: time steps per example.
        vocab_size: distinct input ids for token data (IMDB's include padding id 0);
            0 means the inputs are real values, one per step (N, T, 1).
        num_classes: output classes (next_token: the vocabulary).
        sequence_output: predict at every step (many-to-many) instead of once.
    """

    task: str
    seq_len: int
    vocab_size: int = 0
    num_classes: int = 0
    sequence_output: bool = False

    def __post_init__(self) -> None:
        tasks.get(self.task)  # an unknown task fails here, where the spec is made


@dataclass
class Dataset:
    """Arrays for one run. Empty validation arrays mean no validation split.

    `test_name` says what the final metrics are computed on: "test", or
    "train" when a corpus is too small to hold any text out.
    """

    spec: DataSpec
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_name: str = "test"
    codec: TextCodec | None = None  # text: how ids map back to tokens, saved as the run's vocab.json
    extra: dict = field(default_factory=dict)  # e.g. the sine persistence baseline

    @property
    def has_val(self) -> bool:
        return len(self.x_val) > 0

    def content_sha256(self) -> str:
        """sha256 of what was read: every array and the vocabulary, so a resume notices changed data."""
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        h.update(json.dumps(self.vocab).encode())
        return h.hexdigest()

    @property
    def vocab(self) -> list[str] | None:
        """Token by id, for text data."""
        return None if self.codec is None else self.codec.vocab

    @property
    def level(self) -> str:
        """What a text token is: "char" or "word"."""
        return "char" if self.codec is None else self.codec.level


def load_dataset(cfg: Config) -> Dataset:
    """Load the dataset `cfg.data` names."""
    loaders = {"imdb": load_imdb, "text": load_text, "sine": load_sine}
    return loaders[cfg.data.kind](cfg.data, cfg.seed)


def task_name(cfg: Config) -> str:
    """The name of the task `cfg`'s data poses, without reading any data."""
    return TASK_OF_KIND[cfg.data.kind]


def data_spec(cfg: Config) -> DataSpec:
    """The model-facing shape of the data, cheaply (text reads its corpus, nothing downloads)."""
    specs = {"imdb": imdb_spec, "text": text_spec, "sine": sine_spec}
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


def max_data_bytes() -> int:
    """The most bytes a dataset file (or everything unpacked from it) may hold: 2 GB, or RNN_MAX_DATA_MB."""
    raw = os.environ.get("RNN_MAX_DATA_MB", "")
    try:
        return int(float(raw) * 1_000_000) if raw else MAX_DATA_BYTES
    except ValueError:
        raise DataError(f"RNN_MAX_DATA_MB={raw[:50]!r}: expected a number of megabytes") from None


MAX_DATA_BYTES = 2_000_000_000  # IMDB is 17 MB and a large corpus a few hundred; raise with RNN_MAX_DATA_MB


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


MAX_DOWNLOAD_BYTES = 2_000_000_000  # a corpus or IMDB; raise with RNN_MAX_DATA_MB
DOWNLOAD_TIMEOUT = 60  # seconds without a byte before a download gives up


def check_url(url: str) -> None:
    """Refuse a url that is not a plain http(s) address: a bad host, port, or control characters."""
    if any(ord(c) < 32 or ord(c) == 127 for c in url) or " " in url:
        raise DataError(f"url {url[:200]!r} holds spaces or control characters (CR, LF, ...); refused")
    if not url.startswith(("https://", "http://")):
        raise DataError(f"unsupported url {url[:200]!r}; expected http(s)://")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # a non-numeric or out-of-range port raises here
    except ValueError as exc:
        raise DataError(f"invalid url {url[:200]!r}: {exc}") from None
    if not parts.hostname:
        raise DataError(f"invalid url {url[:200]!r}: it names no host")


def download(url: str, dest: Path, sha256: str, check: Callable[[Path], None] | None = None) -> Path:
    """Download `url` to `dest` through a temporary file; keep it only if the hash matches.

    The response is streamed with a size cap (its Content-Length first, then
    every block), so an endless or oversized response stops early; a partial
    or corrupt download never lands at `dest`. `check(tmp)` may refuse a
    correctly hashed file before it is kept (e.g. text that is not UTF-8).
    """
    check_url(url)
    limit = max_data_bytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp, open(tmp, "wb") as fh:
            headers = getattr(resp, "headers", None)  # an http response has them; be lenient with anything else
            declared = headers.get("Content-Length") if headers is not None else None
            if declared and declared.isdigit() and int(declared) > limit:
                raise DataError(f"{url}: the response is {int(declared):,} bytes, more than the {limit:,} allowed; refused")
            h, n = hashlib.sha256(), 0
            while block := resp.read(1 << 20):
                n += len(block)
                if n > limit:
                    raise DataError(f"{url}: the response is larger than {limit:,} bytes; stopped and refused")
                h.update(block)
                fh.write(block)
        got = h.hexdigest()
        if got != sha256:
            raise DataError(f"{url}: sha256 mismatch: expected {sha256}, got {got}")
        if check is not None:
            check(tmp)
        os.replace(tmp, dest)
    except (ValueError, http.client.HTTPException) as exc:  # urllib's own refusals of a malformed url or reply
        raise DataError(f"cannot download {url[:200]}: {type(exc).__name__}: {str(exc)[:200]}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


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
        check_url(d.url)
        path = cache_dir() / d.sha256
        if not (path.is_file() and sha256_file(path) == d.sha256):
            if not allow_download:
                raise DataError(f"{d.url} is not downloaded yet; run `rnn train` once to fetch it")
            try:
                download(d.url, path, d.sha256, check=_read_corpus_file)
            except OSError as exc:
                raise DataError(f"cannot download {d.url} ({exc}); put the file at {path}") from None
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


# --- sine --------------------------------------------------------------------


def sine_windows(values: np.ndarray, time_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of `time_steps` values (N, T, 1) and the value after each (N, 1)."""
    view = np.lib.stride_tricks.sliding_window_view(values, time_steps + 1)
    return view[:, :-1, None].astype("float32"), view[:, -1:].astype("float32")


def load_sine(d: SineData, seed: int) -> Dataset:
    """The seed's series: train on sin(f * arange(total_size)), test on the last
    `test_windows` windows of sin(f * arange(test_size))."""
    rng = np.random.default_rng(seed)
    train = np.sin(d.frequency * np.arange(d.total_size))
    train = train + rng.normal(0.0, d.noise, train.shape) if d.noise else train
    x, y = sine_windows(train, d.time_steps)
    x_train, y_train, x_val, y_val = _split_tail(x, y, d.val_split)
    x_test, y_test = sine_windows(np.sin(d.frequency * np.arange(d.test_size)), d.time_steps)
    x_test, y_test = x_test[-d.test_windows :], y_test[-d.test_windows :]
    extra = {"persistence": tasks.persistence(x_test, y_test)}  # predict that the next value is the last one seen
    return Dataset(sine_spec(d), x_train, y_train, x_val, y_val, x_test, y_test, extra=extra)


def sine_spec(d: SineData) -> DataSpec:
    return DataSpec(TASK_OF_KIND[d.kind], d.time_steps)
