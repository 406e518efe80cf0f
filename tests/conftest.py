"""Shared fixtures: paths, a CLI runner, and tiny trained runs reused across tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_HOME", str(Path(__file__).parent / ".keras-home-unused"))  # never the user's cache

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
TINY = CONFIGS / "tiny"


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
    """Run directories of the tiny configs, each trained on first use and then shared."""

    def __init__(self, root: Path):
        super().__init__()
        self.root = root

    def __missing__(self, name: str) -> Path:
        from rnn_recipes.config_load import load_config
        from rnn_recipes.train import train

        self[name] = train(load_config(TINY / f"{name}.yaml"), self.root / name, verbose=0)
        return self[name]


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """The tiny configs' runs (CI's smoke runs), trained lazily: a test trains only the configs it reads."""
    return TinyRuns(tmp_path_factory.mktemp("runs"))
