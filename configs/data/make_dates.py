"""Write the bundled sentence pairs: configs/data/dates.tsv and configs/tiny/data/dates_tiny.tsv.

The rnn-recipes project wrote this generator and the pairs it produces; they
are free to use for any purpose (MIT, like the rest of the project). Each line
is a date as people write it and the same date in ISO 8601, separated by a
tab: `25 Nov 2026<TAB>2026-11-25`. The formats differ in order, month names,
separators and whether the weekday is named, so a model must read the whole
source to write each part of the target: a small translation task that trains
in a minute on a CPU.

Deterministic: the same seed writes the same bytes. Run from anywhere:

    python configs/data/make_dates.py           # (re)write both files
    python configs/data/make_dates.py --check   # exit 1 if the files differ from what it would write
"""

from __future__ import annotations

import datetime
import random
import sys
from pathlib import Path

SEED = 20261125
PAIRS = 12_000
TINY_PAIRS = 400  # the first of the full file
HERE = Path(__file__).resolve().parent
FULL = HERE / "dates.tsv"
TINY = HERE.parent / "tiny" / "data" / "dates_tiny.tsv"

FIRST, LAST = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
FORMATS = [
    "%d %b %Y",  # 25 Nov 2026
    "%d %B %Y",  # 25 November 2026
    "%B %d, %Y",  # November 25, 2026
    "%b %d %Y",  # Nov 25 2026
    "%d/%m/%Y",  # 25/11/2026
    "%d.%m.%Y",  # 25.11.2026
    "%A, %d %B %Y",  # Wednesday, 25 November 2026
    "%a %d %b %Y",  # Wed 25 Nov 2026
    "%Y %b %d",  # 2026 Nov 25
    "%d %b %y",  # 25 Nov 26 (two-digit years: 1950-2049)
]


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def written(day: datetime.date, fmt: str) -> str:
    """`day` in `fmt` with English names whatever the locale (strftime's %a %A %b %B follow it)."""
    month, weekday = MONTHS[day.month - 1], DAYS[day.weekday()]
    fmt = fmt.replace("%A", weekday).replace("%a", weekday[:3]).replace("%B", month).replace("%b", month[:3])
    return day.strftime(fmt)


def pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """`n` distinct (written date, ISO date) pairs, drawn from `seed`."""
    rng = random.Random(seed)
    span = (LAST - FIRST).days
    seen, out = set(), []
    while len(out) < n:
        day = FIRST + datetime.timedelta(days=rng.randrange(span + 1))
        source = written(day, rng.choice(FORMATS))
        if rng.random() < 0.3:
            source = source.lower()
        if source in seen:
            continue
        seen.add(source)
        out.append((source, day.isoformat()))
    return out


def render(rows: list[tuple[str, str]]) -> bytes:
    return "".join(f"{s}\t{t}\n" for s, t in rows).encode("utf-8")


def main(argv: list[str]) -> int:
    rows = pairs(PAIRS, SEED)
    files = {FULL: render(rows), TINY: render(rows[:TINY_PAIRS])}
    if "--check" in argv:
        stale = [str(p) for p, data in files.items() if not p.exists() or p.read_bytes() != data]
        print("differ: " + ", ".join(stale) if stale else "up to date")
        return 1 if stale else 0
    for path, data in files.items():
        path.write_bytes(data)
        print(f"wrote {path} ({len(data.splitlines())} pairs)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
