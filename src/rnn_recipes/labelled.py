"""Labelled text for classification: the user's own texts and labels, read and split.

Sources, chosen by what the path is:

* ``.csv`` / ``.tsv``: a header line naming the columns, then one row per
  example; the text and label columns are found by name (default ``text`` and
  ``label``); other columns are ignored.
* ``.jsonl``: one JSON object per line with the text and label keys; blank
  lines are skipped.
* a folder: one sub-folder per class holding ``.txt`` files, one example per
  file (the layout ``keras.utils.text_dataset_from_directory`` reads); the
  sub-folder name is the label.

Labels may be strings or integers. Class names are the distinct labels sorted
(numerically when every label is an integer, so ``2`` comes before ``10``);
an example's integer label is its class's index in that list.

Every read is bounded: a file (or a folder's ``.txt`` files together) over
``max_bytes`` is refused before it is read, and so is a text longer than
``max_text_chars``. Input that cannot be used raises `DataError` with one line
that names the file, the line and what was expected.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rnn_recipes.errors import ConfigError, DataError

DEFAULT_MAX_BYTES = 200_000_000  # per file, or per folder of .txt files
DEFAULT_MAX_TEXT_CHARS = 20_000  # per example
SUFFIXES = {".csv": ",", ".tsv": "\t", ".jsonl": None}
_CSV_FIELD_LIMIT = csv.field_size_limit()  # the csv module refuses longer fields; we report it per line
_INT = re.compile(r"[+-]?\d+")


@dataclass(frozen=True, eq=False)  # holds arrays: == would be ambiguous
class LabelledSplit:
    """One split: texts and their integer labels (index into the class names), same length."""

    texts: tuple[str, ...]
    labels: np.ndarray  # int64, read-only

    def __len__(self) -> int:
        return len(self.texts)

    def counts(self, num_classes: int) -> np.ndarray:
        """Examples per class, shape (num_classes,)."""
        return np.bincount(self.labels, minlength=num_classes)


@dataclass(frozen=True, eq=False)  # holds arrays: == would be ambiguous
class LabelledData:
    """Train/validation/test texts with integer labels, and the class names they index.

    An empty split (no examples) means that split was not asked for.
    `sources` is the one file or folder that was split, or the train,
    validation and test paths of separate files ("" for a split not given).
    """

    class_names: tuple[str, ...]
    train: LabelledSplit
    val: LabelledSplit
    test: LabelledSplit
    sources: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_weights(self) -> dict[int, float]:
        """Keras ``class_weight`` for the training split, by the "balanced" formula."""
        return class_weights(self.train.labels, self.num_classes)


def _split(texts: Sequence[str], labels: Sequence[int] | np.ndarray) -> LabelledSplit:
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    y.setflags(write=False)
    return LabelledSplit(tuple(texts), y)


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Example:
    """One example as read: its text, its label as written, and where it was (for messages)."""

    text: str
    label: str
    where: str  # "path: line N" or the .txt file's path


def read_examples(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> list[Example]:
    """Every example in a .csv, .tsv or .jsonl file, or a folder of class sub-folders, in file order."""
    path = Path(path).expanduser()
    if path.is_dir():
        return _read_folder(path, max_bytes, max_text_chars)
    if not path.is_file():
        raise DataError(f"{path}: no such file or folder; expected a .csv, .tsv or .jsonl file or a folder of class sub-folders")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(
            f"{path}: unsupported suffix {suffix or '(none)'!r}; expected .csv, .tsv, .jsonl or a folder with one sub-folder per class"
        )
    text = _read_text(path, max_bytes)
    if not text.strip():
        what = "one JSON object per line" if suffix == ".jsonl" else "a header line"
        raise DataError(f"{path}: empty file; expected {what} with {text_column!r} and {label_column!r}")
    if suffix == ".jsonl":
        return _parse_jsonl(path, text, text_column, label_column, max_text_chars)
    return _parse_delimited(path, text, SUFFIXES[suffix], text_column, label_column, max_text_chars)


def _read_text(path: Path, max_bytes: int) -> str:
    size = path.stat().st_size
    if size > max_bytes:
        raise DataError(f"{path}: {size:,} bytes, over the limit of {max_bytes:,} (max_bytes)")
    with path.open("rb") as f:
        data = f.read(max_bytes + 1)  # the file may grow between stat and read
    if len(data) > max_bytes:
        raise DataError(f"{path}: over the limit of {max_bytes:,} bytes (max_bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise DataError(f"{path}: line {line}: not UTF-8 (byte 0x{bad} at column {column}); expected UTF-8 text") from None


def _check_text(text: str, where: str, column: str, max_text_chars: int) -> None:
    if not text.strip():
        raise DataError(f"{where}: empty text in {column!r}; expected some text")
    if len(text) > max_text_chars:
        raise DataError(f"{where}: text of {len(text):,} characters, over the limit of {max_text_chars:,} (max_text_chars)")


def _parse_delimited(
    path: Path, text: str, delimiter: str, text_column: str, label_column: str, max_text_chars: int
) -> list[Example]:
    kind = "TSV" if delimiter == "\t" else "CSV"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []  # (first line of the row, fields)
    start = 1
    try:
        for row in reader:
            if row and any(field.strip() for field in row):
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise DataError(
                f"{path}: line {start}: a field over {_CSV_FIELD_LIMIT:,} characters; the text limit is {max_text_chars:,} (max_text_chars)"
            ) from None
        raise DataError(f"{path}: line {start}: not valid {kind} ({exc}); expected a header line, then one row per example") from None
    if not rows:
        raise DataError(f"{path}: empty file; expected a header line with {text_column!r} and {label_column!r}")
    header_line, header = rows[0]
    names = [h.strip() for h in header]
    for column in (text_column, label_column):
        if column not in names:
            found = ", ".join(repr(n) for n in names)
            raise DataError(f"{path}: line {header_line}: no column {column!r} in the header; columns found: {found}")
    if len(rows) == 1:
        raise DataError(f"{path}: header only, no rows; expected one row per example after line {header_line}")
    ti, li = names.index(text_column), names.index(label_column)
    out = []
    for line, row in rows[1:]:
        where = f"{path}: line {line}"
        if len(row) != len(names):
            raise DataError(f"{where}: {len(row)} fields, expected {len(names)} as in the header ({kind} with delimiter {delimiter!r})")
        _check_text(row[ti], where, text_column, max_text_chars)
        label = row[li].strip()
        if not label:
            raise DataError(f"{where}: empty label in {label_column!r}; expected a class name or an integer")
        out.append(Example(row[ti], label, where))
    return out


def _parse_jsonl(path: Path, text: str, text_column: str, label_column: str, max_text_chars: int) -> list[Example]:
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); expected one JSON object per line") from None
        if not isinstance(obj, dict):
            raise DataError(f"{where}: a JSON {type(obj).__name__}; expected one JSON object per line")
        for key in (text_column, label_column):
            if key not in obj:
                found = ", ".join(repr(k) for k in obj) or "none"
                raise DataError(f"{where}: no key {key!r}; keys found: {found}")
        value, label = obj[text_column], obj[label_column]
        if not isinstance(value, str):
            raise DataError(f"{where}: {text_column!r} is {json.dumps(value)[:40]}; expected a string")
        _check_text(value, where, text_column, max_text_chars)
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise DataError(f"{where}: {label_column!r} is {json.dumps(label)[:40]}; expected a string or an integer")
        label = str(label).strip()
        if not label:
            raise DataError(f"{where}: empty label in {label_column!r}; expected a class name or an integer")
        out.append(Example(value, label, where))
    return out


def _read_folder(path: Path, max_bytes: int, max_text_chars: int) -> list[Example]:
    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{path}: no class sub-folders; expected one sub-folder per class holding .txt files")
    files = {c: sorted(f for f in c.iterdir() if f.is_file() and f.suffix.lower() == ".txt") for c in classes}
    total = sum(f.stat().st_size for fs in files.values() for f in fs)
    if total > max_bytes:
        raise DataError(f"{path}: .txt files of {total:,} bytes in all, over the limit of {max_bytes:,} (max_bytes)")
    out = []
    for c in classes:
        if not files[c]:
            raise DataError(f"{c}: no .txt files; expected one .txt file per example of class {c.name!r}")
        for f in files[c]:
            text = _read_text(f, max_bytes)
            _check_text(text, str(f), "the file", max_text_chars)
            out.append(Example(text, c.name, str(f)))
    return out


# ---------------------------------------------------------------- labels


def class_names_of(labels: Sequence[str]) -> tuple[str, ...]:
    """The distinct labels sorted: numerically when all are integers, else as strings."""
    distinct = set(labels)
    if distinct and all(_INT.fullmatch(s) for s in distinct):
        return tuple(sorted(distinct, key=lambda s: (int(s), s)))
    return tuple(sorted(distinct))


def _encode(examples: list[Example], class_names: Sequence[str]) -> LabelledSplit:
    index = {name: i for i, name in enumerate(class_names)}
    labels = []
    for ex in examples:
        if ex.label not in index:
            known = ", ".join(repr(c) for c in class_names)
            raise DataError(f"{ex.where}: label {ex.label!r} is not in the training classes; expected one of {known}")
        labels.append(index[ex.label])
    return _split([ex.text for ex in examples], labels)


def _check_classes(class_names: Sequence[str], source: str, label_column: str) -> None:
    if len(class_names) < 2:
        found = ", ".join(repr(c) for c in class_names)
        raise DataError(f"{source}: {len(class_names)} class ({found}) in {label_column!r}; a classifier needs at least 2")


def class_weights(labels: Sequence[int] | np.ndarray, num_classes: int) -> dict[int, float]:
    """The "balanced" weights n_samples / (n_classes * count) by class id; 0.0 for a class with no examples."""
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    counts = np.bincount(y, minlength=num_classes)
    n = len(y)
    return {k: (n / (num_classes * int(c)) if c else 0.0) for k, c in enumerate(counts)}


# ---------------------------------------------------------------- splits


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction}: expected each in [0, 1) and their sum below 1"
        )


def stratified_split(
    labels: Sequence[int] | np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train, validation and test examples, each class split in the same proportions.

    Per class of n examples, round(n * fraction) go to validation and to test,
    at least one each when the fraction is above 0, and at least one stays in
    train; each split's order is shuffled. The same labels and seed give the
    same indices. A class too small for that raises `ValueError` (the caller
    names the file).
    """
    _check_fractions(val_fraction, test_fraction)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    needed = 1 + (val_fraction > 0) + (test_fraction > 0)
    for k in np.unique(y):
        idx = np.flatnonzero(y == k)
        n = len(idx)
        if n < needed:
            raise ValueError(f"class {int(k)} has {n} example{'s' * (n != 1)}; needs at least {needed}")
        idx = idx[rng.permutation(n)]
        n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
        n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
        while n - n_test - n_val < 1:  # rounding up on a small class: train keeps one
            if n_val >= n_test and n_val > 1:
                n_val -= 1
            else:
                n_test -= 1
        parts[0].append(idx[n_test + n_val :])
        parts[1].append(idx[n_test : n_test + n_val])
        parts[2].append(idx[:n_test])
    out = []
    for chunks in parts:
        joined = np.concatenate(chunks) if chunks else np.zeros(0, np.int64)
        out.append(joined[rng.permutation(len(joined))])
    return out[0], out[1], out[2]


def load_labelled(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> LabelledData:
    """One labelled file or folder, split into train/validation/test by a seeded stratified split."""
    _check_fractions(val_fraction, test_fraction)
    examples = read_examples(path, text_column, label_column, max_bytes=max_bytes, max_text_chars=max_text_chars)
    source = str(Path(path).expanduser())
    class_names = class_names_of([ex.label for ex in examples])
    _check_classes(class_names, source, label_column)
    everything = _encode(examples, class_names)
    try:
        train, val, test = stratified_split(everything.labels, val_fraction, test_fraction, seed)
    except ValueError:
        counts = Counter(ex.label for ex in examples)
        needed = 1 + (val_fraction > 0) + (test_fraction > 0)
        name, n = min(counts.items(), key=lambda kv: (kv[1], kv[0]))
        raise DataError(
            f"{source}: class {name!r} has {n} example{'s' * (n != 1)}; a stratified split into train, "
            f"validation and test needs at least {needed} per class"
        ) from None

    def take(idx: np.ndarray) -> LabelledSplit:
        return _split([everything.texts[i] for i in idx], everything.labels[idx])

    return LabelledData(class_names, take(train), take(val), take(test), (source,))


def load_labelled_splits(
    train: str | Path,
    val: str | Path | None = None,
    test: str | Path | None = None,
    *,
    text_column: str = "text",
    label_column: str = "label",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> LabelledData:
    """Separate files (or folders) per split, in file order; the classes are the training file's.

    A validation or test label the training file never uses is refused. A
    split given as None comes back empty.
    """
    read = dict(text_column=text_column, label_column=label_column, max_bytes=max_bytes, max_text_chars=max_text_chars)
    train_examples = read_examples(train, **read)
    source = str(Path(train).expanduser())
    class_names = class_names_of([ex.label for ex in train_examples])
    _check_classes(class_names, source, label_column)
    splits, sources = [], []
    for p in (train, val, test):
        if p is None:
            splits.append(_split([], []))
            sources.append("")
        else:
            examples = train_examples if p is train else read_examples(p, **read)
            splits.append(_encode(examples, class_names))
            sources.append(str(Path(p).expanduser()))
    return LabelledData(class_names, splits[0], splits[1], splits[2], tuple(sources))
