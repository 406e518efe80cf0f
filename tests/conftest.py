"""Shared fixtures: paths, a CLI runner, and tiny trained runs reused across tests."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_HOME", str(Path(__file__).parent / ".keras-home-unused"))  # never the user's cache


def _share_the_cores() -> None:
    """Under pytest-xdist (`make test`), size each worker's TensorFlow to its share of the cores.

    TensorFlow sizes its op thread pool to every core; N workers doing that
    would run N times as many threads as cores. Set before TensorFlow is
    imported (it reads these once), and inherited by the `rnn` processes a
    test starts. A value set by the caller is kept.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        share = str(max(1, cores // workers))
        for name in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
            os.environ.setdefault(name, share)


_share_the_cores()

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
TINY = CONFIGS / "tiny"


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, hand out the files that train most first, so no worker ends the run alone on a long one.

    `make test` gives each worker whole files (`--dist loadfile --no-loadscope-reorder`), in this order;
    a file's tests keep their written order.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        slow = Counter(item.path for item in items if item.get_closest_marker("slow"))
        items.sort(key=lambda item: -slow[item.path])


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """The download and autotune cache (`~/.cache/rnn-recipes`) moved to this worker's temporary directory.

    Tests never read or write the user's cache, and parallel workers never share one.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNN_RECIPES_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        yield


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Run `rnn ARGS...` in-process from a temporary working directory."""
    from typer.testing import CliRunner

    from rnn_recipes.cli import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return run


class TinyRuns(dict):
    """Run directories of the tiny configs, each trained on first use and then shared, by every worker.

    Under pytest-xdist the workers share one folder: the first to ask for a
    config trains it while holding that config's lock, the others wait for it
    and read the same run. Tests read these runs and never change them (a
    test that changes a run changes a copy).
    """

    def __init__(self, root: Path):
        super().__init__()
        self.root = root

    def __missing__(self, name: str) -> Path:
        import fcntl
        import shutil

        from rnn_recipes.config_load import load_config
        from rnn_recipes.train import train

        run = self.root / name
        with open(self.root / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if training fails
            if not (run / "manifest.json").exists():  # not trained yet, or a worker's training failed part way
                shutil.rmtree(run, ignore_errors=True)
                train(load_config(TINY / f"{name}.yaml"), run, verbose=0)
        self[name] = run
        return run


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """The tiny configs' runs (CI's smoke runs), trained lazily: a test trains only the configs it reads."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "tiny-runs"  # all workers' session folder
    root.mkdir(exist_ok=True)
    return TinyRuns(root)
