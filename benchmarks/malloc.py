"""What keeping freed memory is worth: the project's training path with glibc's malloc as it comes, and kept.

    python -m benchmarks.malloc            # the cases below, XLA on and off (~4 min on 2 quiet cores)
    python -m benchmarks.malloc --cases lstm-512-100-b128-one --jit on --repeats 5

`rnn train` sets malloc to keep freed memory (`rnn_recipes.allocator`). Each
variant here is the matrix's project path (`matrix.recipes_epoch`: config ->
runtime -> build_model -> compile_model -> the training stream, one `fit`)
with XLA forced on or off, in its own process, since malloc's settings are
the process's; "as it comes" leaves glibc's defaults. The processes take
turns, one epoch each, so load from other programs hits all alike; each row
gives the best of `--repeats` epochs after a first, compiling one, and for
that epoch its system CPU seconds and minor page faults (pages the kernel
mapped and zeroed), and each process's peak resident memory.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
from dataclasses import asdict

from benchmarks.matrix import CASES, Case, make_data, recipes_epoch
from benchmarks.training import machine

DEFAULT_CASES = ["lstm-512-100-b128-one", "lstm-256-100-b64-seq", "lstm-64-100-b32-one"]


def _worker(conn, case: dict, jit: bool, keep: bool) -> None:
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        from rnn_recipes import allocator

        if not keep:  # what every process had before rnn train set malloc up: glibc's defaults
            allocator._state = "as glibc comes (benchmarks.malloc)"
        c = Case(**case)
        epoch, _ = recipes_epoch(c, make_data(c), jit)
        epoch()  # the first epoch: compiles
        conn.send(("ready", allocator.state()))
        while conn.recv() == "epoch":
            before = resource.getrusage(resource.RUSAGE_SELF)
            seconds = epoch()
            after = resource.getrusage(resource.RUSAGE_SELF)
            conn.send(("epoch", (seconds, after.ru_stime - before.ru_stime, after.ru_minflt - before.ru_minflt)))
        epoch.stop()
        conn.send(("done", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    except Exception as exc:  # noqa: BLE001  (reported as this variant's result)
        conn.send(("error", f"{type(exc).__name__}: {str(exc)[:200]}"))


def run_case(case: Case, jits: list[bool], repeats: int) -> list[dict]:
    """Every (jit, keep) variant of `case` in its own process, epochs taken in turn; one result per variant."""
    ctx = mp.get_context("spawn")
    variants = [(jit, keep) for jit in jits for keep in (False, True)]
    workers, results = [], []
    for jit, keep in variants:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, asdict(case), jit, keep), daemon=True)
        proc.start()
        workers.append((proc, parent))
        results.append({"jit": jit, "keep": keep, "epochs": []})
    for (proc, conn), r in zip(workers, results):
        kind, value = conn.recv()
        r["malloc" if kind == "ready" else "error"] = value
    for _ in range(repeats):
        for (proc, conn), r in zip(workers, results):
            if "error" in r:
                continue
            conn.send("epoch")
            kind, value = conn.recv()
            if kind == "epoch":
                r["epochs"].append(value)
            else:
                r["error"] = value
    for (proc, conn), r in zip(workers, results):
        if "error" not in r:
            conn.send("stop")
            kind, value = conn.recv()
            r["peak_mb" if kind == "done" else "error"] = value
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
    return results


def rows(case: Case, results: list[dict]) -> list[str]:
    out = []
    for jit in dict.fromkeys(r["jit"] for r in results):
        pair = {r["keep"]: r for r in results if r["jit"] == jit}
        cells, rate = [], {}
        for keep in (False, True):
            r = pair[keep]
            if "error" in r:
                cells.append(f"error: {r['error']}")
                continue
            seconds, sys_s, faults = min(r["epochs"])
            rate[keep] = case.samples / seconds
            cells.append(f"{rate[keep]:,.0f} | {sys_s:.2f} | {faults:,} | {r['peak_mb']:,.0f}")
        ratio = f"{rate[True] / rate[False]:.2f}x" if len(rate) == 2 else ""
        out.append(f"| {case.name} | {'on' if jit else 'off'} | " + " | ".join(cells) + f" | {ratio} |")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help="comma-separated matrix case names")
    parser.add_argument("--jit", choices=["on", "off", "both"], default="both", help="XLA forced on, off, or each")
    parser.add_argument("--repeats", type=int, default=4, help="timed epochs per variant (best is kept)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.cases.split(",") if n not in CASES]
    if unknown:
        raise SystemExit(f"unknown case {unknown[0]!r}: expected one of `python -m benchmarks.matrix --list`")
    jits = {"on": [True], "off": [False], "both": [True, False]}[args.jit]
    print(f"machine: {machine()}")
    print(f"command: python -m benchmarks.malloc {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"load average at start: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    print("\n| case | XLA | as it comes: samples/s | sys s | page faults | peak MB "
          "| kept: samples/s | sys s | page faults | peak MB | kept faster |")
    print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    for name in args.cases.split(","):
        print("\n".join(rows(CASES[name], run_case(CASES[name], jits, args.repeats))), flush=True)
    print(f"\nbest of {args.repeats} interleaved epochs; sys s and page faults: that epoch's; "
          f"load average at end: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
