"""Test-suite wall time: the same test files in one pytest process and with `make test`'s pytest-xdist workers.

    python -m benchmarks.suite [FILE ...] [--repeats 1] [--workers auto]

Runs `python -m pytest -q FILES` twice per repeat, interleaved: once with
`-n 0` (one process, as before `make test` used workers) and once with the
Makefile's parallel flags (`PARALLEL`, read from the Makefile, so the
benchmark times what `make test` runs). Prints each wall time, the ratio, the
cores, the load average before and after (other work on the machine makes
both numbers noisy; the ratio of neighbouring runs less so), and the versions.
Default files: a mix of training and non-training tests that takes a few
minutes in one process.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILES = ["tests/test_cli.py", "tests/test_generate.py", "tests/test_predict.py", "tests/test_diagnose.py",
                 "tests/test_model.py", "tests/test_labelled.py"]


def makefile_parallel_flags(workers: str) -> list[str]:
    """The pytest-xdist flags `make test` passes (the Makefile's PARALLEL), with TEST_WORKERS set to `workers`."""
    text = (ROOT / "Makefile").read_text()
    found = re.search(r"^PARALLEL\s*:?=\s*(.+)$", text, re.MULTILINE)
    if found is None:
        raise SystemExit("Makefile: no PARALLEL := ... line; nothing to compare")
    return found.group(1).replace("$(TEST_WORKERS)", workers).split()


def pytest_command(files: list[str], flags: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *flags, *files]


def timed(cmd: list[str]) -> tuple[float, str]:
    """Wall seconds of `cmd` run from the repository root, and pytest's last line; exits if a test failed."""
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    last = (done.stdout.strip().splitlines() or [""])[-1]
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[2:])} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return seconds, last


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", default=DEFAULT_FILES)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workers", default="auto", help="TEST_WORKERS for the parallel run (default: auto)")
    args = parser.parse_args(argv)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{platform.machine()}, {cores} cores, Python {platform.python_version()}, "
          f"TensorFlow {metadata.version('tensorflow')}, Keras {metadata.version('keras')}, "
          f"pytest {metadata.version('pytest')}, pytest-xdist {metadata.version('pytest-xdist')}")
    print(f"files: {' '.join(args.files)}")
    print(f"load average at start: {loadavg()}", flush=True)
    parallel = makefile_parallel_flags(args.workers)
    rows = []
    for repeat in range(args.repeats):
        for name, flags in (("one process (-n 0)", ["-n", "0"]), (f"workers ({' '.join(parallel)})", parallel)):
            seconds, last = timed(pytest_command(args.files, flags))
            rows.append((name, seconds))
            print(f"| {repeat + 1} | {name} | {seconds:.1f} s | {last} |", flush=True)
    serial = [s for name, s in rows if name.startswith("one")]
    workers = [s for name, s in rows if not name.startswith("one")]
    print(f"one process / workers: {sum(serial) / sum(workers):.2f}x (sum over {args.repeats} repeat(s))")
    print(f"load average at end: {loadavg()}")


if __name__ == "__main__":
    main()
