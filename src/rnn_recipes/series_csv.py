"""A series CSV read and checked into float columns in time order: the `Table` a forecasting run windows.

A CSV is refused with one line naming the file, line and column for what
cannot be forecast from: an empty file, a header without rows, ragged rows,
text that is not UTF-8, a column that does not exist, a cell that is not a
number, a missing cell (unless `data.fill` says how to fill it), times out
of order or with a gap. `next_times` writes the times that follow a table's
last row, for forecasts past its end.

May import: config_data, errors.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from rnn_recipes.config_data import SeriesData
from rnn_recipes.errors import DataError

MAX_BYTES = 64 << 20  # a series CSV larger than this is not what a recipe trains on in minutes
MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}  # cells read as "no value here" (case-insensitive)


@dataclass(frozen=True)
class Table:
    """A CSV's columns as floats, in time order, checked.

    Attributes:
        path: where it was read from (for messages).
        features, targets: the input and the predicted columns, in order.
        columns: the numeric columns the run uses, name -> values (rows,).
        times: the time column's cells as written, or None.
        time_step: how consecutive times differ, e.g. {"unit": "number", "step": 1.0}; None without a time column.
        lines: the file line of each row, for messages.
    """

    path: str
    features: list[str]
    targets: list[str]
    columns: dict[str, np.ndarray]
    times: list[str] | None
    time_step: dict | None
    lines: list[int]

    @property
    def rows(self) -> int:
        return len(self.lines)


def _decode(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"series file not found: {path} (data.path)")
    if path.stat().st_size > MAX_BYTES:
        raise DataError(f"{path}: {path.stat().st_size:,} bytes, more than the {MAX_BYTES:,} a series may have")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None


def _rows(path: Path, text: str) -> tuple[list[str], list[list[str]], list[int]]:
    """(header, data rows, line of each row); blank lines are skipped."""
    if not text.strip():
        raise DataError(f"{path}: the file is empty; expected a header row, then one row per time step")
    reader = csv.reader(io.StringIO(text))
    rows, lines = [], []
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    header = [name.strip() for name in rows[0]]
    if len(set(header)) != len(header):
        dupe = next(n for n in header if header.count(n) > 1)
        raise DataError(f"{path}:{lines[0]}: the header names column {dupe!r} twice")
    if len(rows) == 1:
        raise DataError(f"{path}: a header and no rows; expected one row per time step after the header")
    for row, line in zip(rows[1:], lines[1:]):
        if len(row) != len(header):
            raise DataError(f"{path}:{line}: {len(row)} cells, but the header has {len(header)} ({', '.join(header)})")
    return header, rows[1:], lines[1:]


def _number(cell: str) -> float | None:
    """The cell's value, None when it marks a missing value; ValueError when it is text."""
    text = cell.strip()
    if text.lower() in MISSING:
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _is_numeric(cells: list[str]) -> bool:
    try:
        return any(_number(c) is not None for c in cells)
    except ValueError:
        return False


def _fill(path: Path, name: str, values: np.ndarray, lines: list[int], policy: str) -> np.ndarray:
    missing = np.isnan(values)
    if not missing.any():
        return values
    first = int(np.argmax(missing))
    if policy == "none":
        raise DataError(f"{path}:{lines[first]}: column {name!r} has no value; fill the cell, "
                        "or set data.fill: ffill (repeat the last value) or interpolate")
    known = np.flatnonzero(~missing)
    if len(known) == 0:
        raise DataError(f"{path}: column {name!r} has no values at all")
    if policy == "ffill":
        if first < known[0]:
            raise DataError(f"{path}:{lines[first]}: column {name!r} has no value and no earlier one to repeat "
                            "(data.fill: ffill); use interpolate, or drop the leading rows")
        last_known = np.maximum.accumulate(np.where(missing, 0, np.arange(len(values))))
        return values[last_known]
    # interpolate: linear between the neighbours; leading/trailing gaps take the nearest value
    return np.interp(np.arange(len(values)), known, values[known])


def _parse_time(cell: str) -> float | datetime:
    try:
        return float(cell)
    except ValueError:
        return datetime.fromisoformat(cell.strip())


def _month_index(t: datetime) -> int:
    return t.year * 12 + t.month - 1


def _check_times(path: Path, name: str, cells: list[str], lines: list[int]) -> dict:
    """Times must increase by one constant step (numbers, ISO dates, or whole months); return that step."""
    try:
        times = [_parse_time(c) for c in cells]
    except ValueError:
        bad = next(i for i, c in enumerate(cells) if not _parses(c))
        raise DataError(f"{path}:{lines[bad]}: time {cells[bad]!r} (column {name!r}) is neither a number "
                        "nor an ISO date such as 2024-01-31") from None
    if len({type(t) for t in times}) > 1:
        raise DataError(f"{path}: column {name!r} mixes numbers and dates")
    for i in range(1, len(times)):
        if not times[i] > times[i - 1]:
            raise DataError(f"{path}:{lines[i]}: time {cells[i]} is not after {cells[i - 1]} (line {lines[i - 1]}); "
                            "sort the rows by time, one row per time step")
    if len(times) < 2:
        return {"unit": "number", "step": 1.0}
    if isinstance(times[0], float):
        diffs, unit = np.diff(np.asarray(times)), "number"
    else:
        diffs, unit = np.asarray([(b - a).total_seconds() for a, b in zip(times, times[1:])]), "seconds"
        same_day = all((t.day, t.time()) == (times[0].day, times[0].time()) for t in times)
        if same_day and len(set(diffs)) > 1:  # monthly or quarterly: calendar months, not seconds, are even
            diffs, unit = np.diff([_month_index(t) for t in times]).astype("float64"), "months"
    step = float(diffs[0])
    uneven = np.flatnonzero(np.abs(diffs - step) > 1e-9 * max(1.0, abs(step)))
    if len(uneven):
        i = int(uneven[0]) + 1
        raise DataError(f"{path}:{lines[i]}: a gap: time goes from {cells[i - 1]} to {cells[i]}, but the step "
                        f"before is {step:g} {unit}; add the missing rows (data.fill fills cells, not rows)")
    return {"unit": unit, "step": step}


def _parses(cell: str) -> bool:
    try:
        _parse_time(cell)
        return True
    except ValueError:
        return False


def read_table(path: Path, d: SeriesData) -> Table:
    """Read the CSV `d` describes (already fetched to `path`) into checked float columns."""
    path = Path(path)
    header, rows, lines = _rows(path, _decode(path))
    cells = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    for key, names in (("time_column", [d.time_column] if d.time_column else []), ("targets", d.targets or []),
                       ("features", d.features or [])):
        for name in names:
            if name not in cells:
                raise DataError(f"{path}: no column {name!r} (data.{key}); the columns are: {', '.join(header)}")
    targets = list(d.targets or [])
    if not targets:
        numeric = [n for n in header if n != d.time_column and _is_numeric(cells[n])]
        if len(numeric) != 1:
            found = f"several numeric columns ({', '.join(numeric)})" if numeric else "no numeric column"
            raise DataError(f"{path}: {found}; name the column(s) to forecast in data.targets")
        targets = numeric
    features = list(d.features or targets)
    used = list(dict.fromkeys([*features, *targets]))
    columns = {}
    for name in used:
        values = np.empty(len(rows))
        for r, cell in enumerate(cells[name]):
            try:
                value = _number(cell)
            except ValueError:
                raise DataError(f"{path}:{lines[r]}: column {name!r}: {cell.strip()!r} is not a number") from None
            values[r] = np.nan if value is None else value
        columns[name] = _fill(path, name, values, lines, d.fill)
    times, step = None, None
    if d.time_column:
        times = [c.strip() for c in cells[d.time_column]]
        step = _check_times(path, d.time_column, times, lines)
    return Table(str(path), features, targets, columns, times, step, lines)


def next_times(last: str, step: dict, n: int) -> list[str]:
    """The `n` times after `last`, `step` apart (as `Table.time_step` describes it), written like `last`."""
    value = _parse_time(last)
    if isinstance(value, float):
        decimals = len(last.split(".")[1]) if "." in last else 0
        return [f"{value + step['step'] * (i + 1):.{decimals}f}" for i in range(n)]
    out = []
    for i in range(1, n + 1):
        if step["unit"] == "months":
            m = _month_index(value) + int(step["step"]) * i
            t = value.replace(year=m // 12, month=m % 12 + 1)
        else:
            t = datetime.fromtimestamp(value.timestamp() + step["step"] * i, value.tzinfo)
        out.append(t.date().isoformat() if len(last) <= 10 else t.isoformat())
    return out
