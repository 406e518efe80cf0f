"""Texts to predict on, read lazily and checked: one text a line, or a CSV/TSV/JSONL file's text column.

Every reader is a generator, so a file of any size streams through in
batches. Input that cannot be used raises `InputError` with one line that
names the source and the line: an empty text, bytes that are not UTF-8, a
missing column.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from rnn_recipes.errors import UserError
from rnn_recipes.labelled_files import json_objects

TABLES = {".csv": ",", ".tsv": "\t"}


class InputError(UserError):
    """Input to predict on that cannot be used."""


def _decoded(lines: Iterable[bytes], where: str) -> Iterator[tuple[int, str]]:
    """(line number, text without its line end), each line decoded as UTF-8 or refused with its number."""
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start : exc.start + 1].hex()
            raise InputError(f"{where}: line {number}: not UTF-8 (byte 0x{bad} at column {exc.start + 1}); expected UTF-8 text") from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        yield number, text.rstrip("\r\n")


def _checked(text: str, where: str) -> str:
    if not text.strip():
        raise InputError(f"{where}: empty text; expected some text to classify")
    return text


def texts_from_lines(lines: Iterable[bytes], where: str) -> Iterator[str]:
    """One text a line (standard input, a .txt file)."""
    for number, text in _decoded(lines, where):
        yield _checked(text, f"{where}: line {number}")


def texts_from_table(lines: Iterable[bytes], where: str, delimiter: str, column: str) -> Iterator[str]:
    """The `column` of a CSV/TSV file with a header line."""
    numbered = _decoded(lines, where)
    current = [0]

    def text_lines() -> Iterator[str]:
        for number, text in numbered:
            current[0] = number
            yield text + "\n"

    reader = csv.reader(text_lines(), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise InputError(f"{where}: empty file; expected a header line with {column!r}")
        names = [h.strip() for h in header]
        if column not in names:
            raise InputError(f"{where}: line {current[0]}: no column {column!r} in the header; columns found: {', '.join(map(repr, names))} (--column)")
        index = names.index(column)
        for row in reader:
            if not row:
                continue
            if len(row) <= index:
                raise InputError(f"{where}: line {current[0]}: {len(row)} fields, expected {len(names)} as in the header")
            yield _checked(row[index], f"{where}: line {current[0]}")
    except csv.Error as exc:
        raise InputError(f"{where}: line {current[0]}: not valid CSV ({exc})") from None


def texts_from_jsonl(lines: Iterable[bytes], where: str, column: str) -> Iterator[str]:
    """The `column` key of one JSON object a line; blank lines are skipped."""
    for at, obj in json_objects(_decoded(lines, where), where, InputError):
        if column not in obj:
            raise InputError(f"{at}: no key {column!r}; found {', '.join(map(repr, obj)) or 'none'} (--column)")
        if not isinstance(obj[column], str):
            raise InputError(f"{at}: {column!r} is not a string")
        yield _checked(obj[column], at)


def texts_from_file(path: Path, column: str) -> Iterator[str]:
    """Texts of a file, streamed: .csv/.tsv/.jsonl by their `column`, anything else one text a line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    with path.open("rb") as fh:
        if suffix in TABLES:
            yield from texts_from_table(fh, str(path), TABLES[suffix], column)
        elif suffix == ".jsonl":
            yield from texts_from_jsonl(fh, str(path), column)
        else:
            yield from texts_from_lines(fh, str(path))


def texts_from_stream(stream: BinaryIO, where: str = "<stdin>") -> Iterator[str]:
    """One text a line from a binary stream (standard input)."""
    yield from texts_from_lines(stream, where)


def texts_from_options(texts: Iterable[str]) -> Iterator[str]:
    """Texts given on the command line, each checked."""
    for n, text in enumerate(texts, start=1):
        yield _checked(text, f"--text #{n}")


def parse_values(values: str) -> list[float]:
    """A comma-separated window of numbers: "0.1,0.2,0.3"."""
    try:
        out = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--values {values!r}: expected numbers separated by commas, e.g. 0.1,0.2,0.3") from None
    if not out:
        raise InputError("--values is empty; expected numbers separated by commas, e.g. 0.1,0.2,0.3")
    return out
