"""Reading labelled examples from files: CSV, TSV, JSON Lines, or a folder of class folders.

Sources, chosen by what the path is:

* ``.csv`` / ``.tsv``: a header line naming the columns, then one row per
  example; the text and label columns are found by name (default ``text`` and
  ``label``); other columns are ignored.
* ``.jsonl``: one JSON object per line with the text and label keys; blank
  lines are skipped.
* a folder: one sub-folder per class holding ``.txt`` files, one example per
  file (the layout ``keras.utils.text_dataset_from_directory`` reads); the
  sub-folder name is the label.

Every read is bounded: a file (or a folder's ``.txt`` files together) over
``max_bytes`` is refused before it is read, and so is a text longer than
``max_text_chars``. Input that cannot be used raises `DataError` with one line
that names the file, the line and what was expected.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from rnn_recipes.errors import DataError, UserError

DEFAULT_MAX_BYTES = 200_000_000  # per file, or per folder of .txt files
DEFAULT_MAX_TEXT_CHARS = 20_000  # per example
SUFFIXES = {".csv": ",", ".tsv": "\t", ".jsonl": None}
_CSV_FIELD_LIMIT = csv.field_size_limit()  # the csv module refuses longer fields; we report it per line



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


def json_objects(lines: Iterable[tuple[int, str]], where: str, error: type[UserError] = DataError) -> Iterator[tuple[str, dict]]:
    """("`where`: line N", object) for each non-blank (number, line): one JSON object a line, else `error`."""
    for number, line in lines:
        if not line.strip():
            continue
        at = f"{where}: line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{at}: not valid JSON ({exc.msg} at column {exc.colno}); expected one JSON object per line") from None
        if not isinstance(obj, dict):
            raise error(f"{at}: a JSON {type(obj).__name__}; expected one JSON object per line")
        yield at, obj


def _parse_jsonl(path: Path, text: str, text_column: str, label_column: str, max_text_chars: int) -> list[Example]:
    out = []
    for where, obj in json_objects(enumerate(text.splitlines(), start=1), str(path)):
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


