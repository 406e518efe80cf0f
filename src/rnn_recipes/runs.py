"""Finished runs, read back: a run's config, metrics, vocabulary and model, checked against its manifest.

May import: config, config_load, errors, fileio, rundir, safeload, safeyaml.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnn_recipes.config import Config
from rnn_recipes.config_load import build_config
from rnn_recipes.errors import ConfigError, RunError
from rnn_recipes.fileio import read_text_bounded, sha256_regular
from rnn_recipes.rundir import require_run_dir
from rnn_recipes.runproof import CONFIG, MANIFEST
from rnn_recipes.safeload import load_model_file
from rnn_recipes.safeyaml import parse_yaml

MODEL = "model.keras"
METRICS = "metrics.json"
VOCAB = "vocab.json"


@dataclass
class Run:
    """A finished run, read back from its directory."""

    path: Path
    config: Config
    metrics: dict
    vocab: list[str] | None
    vocab_json: dict | None = None  # vocab.json as read (seq2seq runs keep both sides' vocabularies there)

    def load_model(self):
        """The trained Keras model (checked, then loaded in safe mode: no code is deserialised)."""
        return load_model_file(self.path / MODEL, within_run=True)


MAX_SMALL_FILE = 16_000_000  # manifest, config, metrics, vocabulary: kilobytes, or a few MB for a word vocabulary
MAX_MODEL_FILE = 8_000_000_000  # the largest model a config allows (see config.MAX_PARAMETERS) saves in less
HEX64 = re.compile(r"[0-9a-f]{64}")
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # a file of the run itself: no '/', no '..', not hidden


def required_files(config: Config) -> tuple[str, ...]:
    """The files every finished run of `config` has, and its manifest must list."""
    has_vocab = config.data.kind == "text" or config.model.kind == "seq2seq"
    return (CONFIG, MODEL, METRICS) + ((VOCAB,) if has_vocab else ())


def read_config(run_dir: Path) -> Config:
    """The config a run was trained under; refuse a directory that is not a run."""
    require_run_dir(run_dir)
    path = run_dir / CONFIG
    text = read_text_bounded(path, MAX_SMALL_FILE, what=CONFIG, follow=False)
    try:
        data, lines = parse_yaml(text, str(path))
        return build_config(data, lines, str(path))
    except ConfigError as exc:
        raise RunError(f"{run_dir}: its config no longer loads: {exc}") from None


def read_manifest(run_dir: Path) -> dict[str, str]:
    """The manifest's file -> sha256 map, each name a plain file of the run; refuse anything else."""
    path = run_dir / MANIFEST
    if not os.path.lexists(path):
        raise RunError(f"{run_dir} is incomplete (no {MANIFEST}): its training did not finish")
    text = read_text_bounded(path, MAX_SMALL_FILE, what=MANIFEST, follow=False)
    try:
        files = json.loads(text)["files"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise RunError(f"{path} is unreadable; the run cannot be trusted") from None
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and PLAIN_NAME.fullmatch(k) and k != MANIFEST and isinstance(v, str) and HEX64.fullmatch(v)
        for k, v in files.items()
    ):
        raise RunError(f"{path}: 'files' must map the run's own file names to sha256 digests; the run cannot be trusted")
    return files


def _json_file(run_dir: Path, name: str) -> Any:
    try:
        return json.loads(read_text_bounded(run_dir / name, MAX_SMALL_FILE, what=name, follow=False))
    except (ValueError, RecursionError):
        raise RunError(f"{run_dir / name} is not valid JSON; the run cannot be trusted") from None


def load_run(run_dir: Path) -> Run:
    """Read a complete run; refuse incomplete, altered or foreign ones.

    Every file read is a regular file of the run (no symlink), size-capped
    before it is read, and listed in the manifest with its sha256; every file
    a run needs must be listed.
    """
    run_dir = Path(run_dir)
    require_run_dir(run_dir)
    files = read_manifest(run_dir)
    for name, digest in files.items():
        limit = MAX_MODEL_FILE if name.endswith(".keras") else MAX_SMALL_FILE * 64
        if sha256_regular(run_dir / name, limit, what=name) != digest:
            raise RunError(f"{run_dir}: {name} is missing or changed since the run finished")
    config = read_config(run_dir)  # listed, so checked above
    missing = [name for name in required_files(config) if name not in files]
    if missing:
        raise RunError(f"{run_dir / MANIFEST} does not list {', '.join(missing)}; the run cannot be trusted")
    vocab = raw = None
    if VOCAB in files:
        raw = _json_file(run_dir, VOCAB)
        vocab = raw.get("tokens") if isinstance(raw, dict) else None
        if not (isinstance(vocab, list) and vocab and all(isinstance(t, str) for t in vocab) and len(set(vocab)) == len(vocab)):
            raise RunError(f"{run_dir / VOCAB}: expected {{\"tokens\": [distinct strings]}}; the run cannot be trusted")
    metrics = _json_file(run_dir, METRICS)
    if not isinstance(metrics, dict):
        raise RunError(f"{run_dir / METRICS}: expected a JSON object of metrics; the run cannot be trusted")
    return Run(run_dir, config, metrics, vocab, raw if isinstance(raw, dict) else None)


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
