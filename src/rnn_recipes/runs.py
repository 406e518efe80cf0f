"""Finished runs, read back: a run's config, metrics, vocabulary and model, checked against its manifest.

May import: config, config_load, errors, fileio, rundir, safeload, safeyaml.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rnn_recipes.config import Config
from rnn_recipes.config_load import build_config
from rnn_recipes.errors import ConfigError, RunError
from rnn_recipes.fileio import sha256_file
from rnn_recipes.rundir import CONFIG, MANIFEST, require_run_dir
from rnn_recipes.safeload import load_model_file
from rnn_recipes.safeyaml import parse_yaml


@dataclass
class Run:
    """A finished run, read back from its directory."""

    path: Path
    config: Config
    metrics: dict
    vocab: list[str] | None

    def load_model(self):
        """The trained Keras model (checked, then loaded in safe mode: no code is deserialised)."""
        return load_model_file(self.path / "model.keras")


def read_config(run_dir: Path) -> Config:
    """The config a run was trained under; refuse a directory that is not a run."""
    require_run_dir(run_dir)
    path = run_dir / CONFIG
    try:
        data, lines = parse_yaml(path.read_text(encoding="utf-8"), str(path))
        return build_config(data, lines, str(path))
    except ConfigError as exc:
        raise RunError(f"{run_dir}: its config no longer loads: {exc}") from None


def load_run(run_dir: Path) -> Run:
    """Read a complete run; refuse incomplete or altered ones."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    manifest = run_dir / MANIFEST
    if not manifest.is_file():
        raise RunError(f"{run_dir} is incomplete (no {MANIFEST}): its training did not finish")
    try:
        files = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError, TypeError):
        raise RunError(f"{manifest} is unreadable; the run cannot be trusted") from None
    for name, digest in files.items():
        path = run_dir / name
        if not path.is_file() or sha256_file(path) != digest:
            raise RunError(f"{run_dir}: {name} is missing or changed since the run finished")
    vocab_path = run_dir / "vocab.json"
    vocab = json.loads(vocab_path.read_text(encoding="utf-8"))["tokens"] if vocab_path.is_file() else None
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return Run(run_dir, config, metrics, vocab)


def find_runs(root: Path, kind: str | None = None) -> list[Path]:
    """Complete runs under `root`, newest first, optionally only those of one dataset kind."""
    found = []
    for manifest in Path(root).glob(f"*/{MANIFEST}"):
        run_dir = manifest.parent
        try:
            if kind is None or read_config(run_dir).data.kind == kind:
                found.append(run_dir)
        except RunError:
            continue
    return sorted(found, key=lambda p: p.joinpath(MANIFEST).stat().st_mtime, reverse=True)
