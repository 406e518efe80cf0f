"""Run directories: where a run's artifacts live, how they are written, and how they are found.

A run directory is self-sufficient: model.keras, the resolved config.yaml,
vocab.json (text), history.csv, metrics.json, summary.txt, versions.json and
plots. Every artifact is written to a temporary file in the same directory and
moved into place with os.replace, so a crash never leaves a half-written
file; manifest.json, with each artifact's sha256, is written last and marks
the run complete.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rnn_recipes.config import Config, ConfigError, build_config, dump_config, parse_yaml
from rnn_recipes.data import sha256_file

MANIFEST = "manifest.json"
CONFIG = "config.yaml"


class RunError(Exception):
    """A run directory that cannot be used; the message is one line meant for the user."""


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary path beside `path`, fsync it, then move it into place."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def new_run_dir(cfg: Config, out: Path | None = None) -> Path:
    """Create the directory a new run writes to: `out`, or output.dir/<name>-<timestamp>."""
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path(cfg.output.dir) / f"{cfg.name}-{stamp}"
        n = 2
        while out.exists():  # two runs in the same second
            out = Path(cfg.output.dir) / f"{cfg.name}-{stamp}-{n}"
            n += 1
    if out.exists() and any(out.iterdir()):
        raise RunError(f"{out} already exists and is not empty; choose another --out or remove it")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create run directory {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK):
        raise RunError(f"run directory {out} is not writable")
    return out


def write_manifest(run_dir: Path) -> None:
    """Hash every artifact and write manifest.json last: the run is now complete."""
    files = sorted(p for p in run_dir.iterdir() if p.is_file() and p.name != MANIFEST and not p.name.startswith("."))
    write_json(run_dir / MANIFEST, {"files": {p.name: sha256_file(p) for p in files}})


@dataclass
class Run:
    """A finished run, read back from its directory."""

    path: Path
    config: Config
    metrics: dict
    vocab: list[str] | None

    def load_model(self):
        """The trained Keras model (safe mode: no arbitrary code is deserialised)."""
        from rnn_recipes.backend import import_keras

        keras = import_keras()
        return keras.saving.load_model(self.path / "model.keras", safe_mode=True)


def read_config(run_dir: Path) -> Config:
    path = run_dir / CONFIG
    if not path.is_file():
        raise RunError(f"{run_dir} is not a run directory (no {CONFIG}); expected a directory written by `rnn train`")
    try:
        data, lines = parse_yaml(path.read_text(encoding="utf-8"), str(path))
        return build_config(data, lines, str(path))
    except ConfigError as exc:
        raise RunError(f"{run_dir}: its config no longer loads: {exc}") from None


def load_run(run_dir: Path) -> Run:
    """Read a complete run; refuse incomplete or altered ones."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run directory not found: {run_dir}")
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


def save_config(run_dir: Path, cfg: Config) -> None:
    write_text(run_dir / CONFIG, dump_config(cfg))
