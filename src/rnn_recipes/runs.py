"""Run directories: where a run's artifacts live, how they are written, and how they are found.

A run directory is self-sufficient: model.keras, the resolved config.yaml,
vocab.json (text), history.csv, metrics.json, summary.txt, versions.json and
plots. Every artifact is written to a temporary file in the same directory and
moved into place with os.replace, so a crash never leaves a half-written
file; manifest.json, with each artifact's sha256, is written last and marks
the run complete.

While a run trains, `checkpoint/` holds its last completed epoch (see
checkpoint.py) and `.lock` keeps a second training out. `--overwrite` trains
into a hidden sibling and swaps it in only once it is complete.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import sys
import threading
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from rnn_recipes.config import Config, dump_config
from rnn_recipes.config_load import build_config, flatten, parse_yaml
from rnn_recipes.data import sha256_file
from rnn_recipes.errors import ConfigError, Interrupted, RunError

MANIFEST = "manifest.json"
CONFIG = "config.yaml"
CHECKPOINT = "checkpoint"  # the last completed epoch of an unfinished run
STATE = "state.json"  # inside CHECKPOINT: written last, it names the checkpoint's files
REPLACES = "replaces"  # inside CHECKPOINT of an --overwrite run: the run it will replace
LOCK = ".lock"
MAX_CONFIG_JSON = 10_000_000  # a model's config.json is kilobytes; refuse zip bombs before reading


def resume_command(run_dir: Path) -> str:
    return f"rnn train --resume {shlex.quote(str(run_dir))}"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary path beside `path`, fsync it, then move it into place."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:  # a full disk or a vanished directory: one line, not a traceback
        raise RunError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    """Make a rename durable: the directory entry, not only the file, reaches the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


# --- opening a run directory for training -----------------------------------


@dataclass
class RunDir:
    """Where a training writes (`path`) and where the finished run ends up (`final`).

    They differ only under --overwrite: the new run trains in a hidden sibling
    of the old one, which stays untouched until the new run is complete.
    """

    path: Path
    final: Path
    config: Config
    locks: list[int] = field(default_factory=list)
    created: bool = False  # this training made `path`: remove it if it fails before writing a config

    def complete(self) -> bool:
        """Whether the run has its manifest (in `path`, or in `final` once swapped in)."""
        return ((self.path if self.path.exists() else self.final) / MANIFEST).is_file()

    def finish(self) -> Path:
        """Call after the manifest: drop the checkpoint and swap an --overwrite run into place."""
        with deferred_signals():  # a signal now must not leave the old run moved away and the new one not in
            shutil.rmtree(self.path / CHECKPOINT, ignore_errors=True)
            if self.final != self.path:
                old = self.final.with_name(f".{self.final.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                if self.final.exists():
                    os.replace(self.final, old)
                os.replace(self.path, self.final)
                _fsync_dir(self.final.parent)
                shutil.rmtree(old, ignore_errors=True)
        return self.final


@contextmanager
def open_run(
    cfg: Config, out: Path | None = None, *, resume: Path | None = None, overwrite: bool = False
) -> Iterator[RunDir]:
    """Create (or reopen, for `resume`) a run directory, locked, with SIGINT/SIGTERM turned into `Interrupted`.

    Args:
        cfg: the run's validated config.
        out: the run directory; default `output.dir/<name>-<timestamp>`.
        resume: an unfinished run directory to continue in place.
        overwrite: replace an existing run at `out`, once the new one is complete.
    """
    run = _reopen(Path(resume), cfg) if resume is not None else _create(cfg, out, overwrite)
    try:
        with _signals_interrupt(run):
            yield run
    except BaseException:
        if run.created and not (run.path / CONFIG).exists():
            shutil.rmtree(run.path, ignore_errors=True)
        raise
    finally:
        for fd in run.locks:
            os.close(fd)


def _default_dir(cfg: Config) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(cfg.output.dir) / f"{cfg.name}-{stamp}"
    n = 2
    while out.exists():  # two runs in the same second
        out = Path(cfg.output.dir) / f"{cfg.name}-{stamp}-{n}"
        n += 1
    return out


def _create(cfg: Config, out: Path | None, overwrite: bool) -> RunDir:
    out = _default_dir(cfg) if out is None else Path(out)
    if (out / LOCK).exists():  # say "in use" rather than "not empty" while another training writes here
        os.close(_lock(out))
    if not (out.exists() and any(p.name != LOCK for p in out.iterdir())):
        created = not out.exists()
        _make_writable_dir(out)
        return RunDir(out, out, cfg, [_lock(out)], created=created)
    if not overwrite:
        if (out / MANIFEST).is_file():
            raise RunError(f"{out} already holds a finished run; pass --overwrite to replace it, or choose another --out")
        if (out / CONFIG).is_file():
            raise RunError(
                f"{out} holds an unfinished run; continue it with `{resume_command(out)}`, or pass --overwrite to replace it"
            )
        raise RunError(f"{out} already exists and is not empty; choose another --out")
    if not (out / CONFIG).is_file():  # never delete a directory we did not write
        raise RunError(f"{out} is not a run directory (no {CONFIG}); --overwrite replaces only runs")
    locks = [_lock(out)]
    try:
        staging = out.with_name(f".{out.name}.new")
        if staging.exists():  # an abandoned --overwrite; make sure nobody is resuming it
            os.close(_lock(staging))
            shutil.rmtree(staging)
        _make_writable_dir(staging)
        locks.append(_lock(staging))
        (staging / CHECKPOINT).mkdir()
        write_text(staging / CHECKPOINT / REPLACES, out.name)  # a sibling: found again from any working directory
    except BaseException:
        for fd in locks:
            os.close(fd)
        raise
    return RunDir(staging, out, cfg, locks, created=True)


def _reopen(path: Path, cfg: Config) -> RunDir:
    if not path.is_dir():
        raise RunError(f"run directory not found: {path}")
    if not (path / CONFIG).is_file():
        raise RunError(f"{path} is not a run directory (no {CONFIG}); expected a directory written by `rnn train`")
    if (path / MANIFEST).is_file():
        raise RunError(f"{path} is a finished run; there is nothing to resume")
    replaces = path / CHECKPOINT / REPLACES
    final = path.with_name(replaces.read_text(encoding="utf-8").strip()) if replaces.is_file() else path
    lock = _lock(path)
    try:
        for stale in path.glob(".*.tmp*"):  # a killed training's half-written file; nobody else writes here
            stale.unlink()
        state = read_state(path)
        if state is not None:  # before anything is rewritten: a refused resume leaves the run as it was
            check_resumable(path, state, cfg)
    except BaseException:
        os.close(lock)
        raise
    return RunDir(path, final, cfg, [lock])


def _make_writable_dir(path: Path) -> None:
    existed = path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create run directory {path}: {exc.strerror or exc}") from None
    probe = path / f".probe.{os.getpid()}"
    try:  # os.access says yes to root even on a read-only filesystem: try for real
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        if not existed:
            shutil.rmtree(path, ignore_errors=True)
        raise RunError(f"run directory {path} is not writable: {exc.strerror or exc}") from None


def _lock(path: Path) -> int:
    """Hold an exclusive lock on `path`/.lock until the fd is closed (or the process dies)."""
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunError(f"{path} is in use by another training (its {LOCK} is locked); wait for it or choose another --out") from None
    return fd


def check_free_space(run_dir: Path, n_params: int) -> None:
    """Refuse before training when the disk cannot hold the model and its checkpoints.

    The estimate: float32 weights plus two optimizer slots, times six copies
    (final model, two rotating checkpoints, best weights), plus 20 MB for the
    rest (plots, history).
    """
    need = n_params * 4 * 3 * 6 + 20_000_000
    free = shutil.disk_usage(run_dir).free
    if free < need:
        raise RunError(
            f"only {free / 1e6:.1f} MB free under {run_dir}; this run needs about {need / 1e6:.0f} MB "
            f"(model, optimizer state, checkpoints); free some space or choose another --out"
        )


def read_state(run_dir: Path) -> dict | None:
    """The checkpoint state of an unfinished run, or None when no epoch has completed."""
    path = Path(run_dir) / CHECKPOINT / STATE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        es = state.get("early_stopping") or {}
        valid = (
            isinstance(state["epoch"], int)
            and isinstance(state["history"], dict)
            and isinstance(state["model_sha256"], str)
            # names inside checkpoint/, never a path elsewhere
            and re.fullmatch(r"epoch-\d{4,}\.keras", state["model"])
            and (es.get("best_weights") is None or re.fullmatch(r"best-\d{4,}\.npz", es["best_weights"]))
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        valid = False
    if not valid:
        raise RunError(f"{path} is unreadable or altered; the checkpoint cannot be trusted")
    return state


# --- resuming: what a checkpoint fixes --------------------------------------

# What a resumed run may not change: the weights and optimizer state only fit these.
FROZEN_SECTIONS = ("seed", "data", "encoding", "model")
FROZEN_TRAIN_KEYS = ("optimizer", "precision")  # mixed_float16 adds loss-scale state to the optimizer
# Frozen keys added since checkpoints were first written, with the value a checkpoint without them
# was trained under: at that value they stay out of the fingerprint, so such a checkpoint still resumes.
ADDED_KEYS = {"train.precision": "float32"}


def fingerprint(cfg: Config) -> dict[str, Any]:
    """The flattened part of a config that a resumed run must share with its checkpoint."""
    full = cfg.to_dict()
    part = {k: full[k] for k in FROZEN_SECTIONS}
    part["train"] = {k: full["train"][k] for k in FROZEN_TRAIN_KEYS}
    return {k: v for k, v in flatten(part).items() if k not in ADDED_KEYS or v != ADDED_KEYS[k]}


def fingerprint_hash(cfg: Config) -> str:
    return hashlib.sha256(json.dumps(fingerprint(cfg), sort_keys=True).encode()).hexdigest()


def check_resumable(run_dir: Path, state: dict, cfg: Config) -> None:
    """Refuse to continue a checkpoint under a config it does not fit."""
    if state["epoch"] > cfg.train.epochs:
        raise RunError(
            f"{run_dir}: it has trained {state['epoch']} epochs already; train.epochs ({cfg.train.epochs}) must be at least that"
        )
    if state.get("config_hash") == fingerprint_hash(cfg):
        return
    old, new = {**ADDED_KEYS, **state.get("fingerprint", {})}, {**ADDED_KEYS, **fingerprint(cfg)}
    changed = next((k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)), "the config")
    raise RunError(
        f"{run_dir}: cannot resume: {changed} changed ({old.get(changed)!r} -> {new.get(changed)!r}); "
        f"a resumed run keeps its seed, data, encoding, model, train.optimizer and train.precision "
        f"(epochs, patience, learning_rate, batch_size may change); start a new run instead"
    )


# --- signals: SIGINT/SIGTERM end training with a resume command ---------------


class _Deferral:
    depth = 0
    pending: int | None = None
    handler: Callable[[int], None] | None = None


_deferral = _Deferral()


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while a checkpoint is written, and act on them right after."""
    _deferral.depth += 1
    try:
        yield
    finally:
        _deferral.depth -= 1
    if _deferral.depth == 0 and _deferral.pending is not None and _deferral.handler is not None:
        signum, _deferral.pending = _deferral.pending, None
        _deferral.handler(signum)


@contextmanager
def _signals_interrupt(run: RunDir) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread
        yield
        return

    def interrupt(signum: int) -> None:
        name = signal.Signals(signum).name
        if run.complete():  # too late to stop anything: let the run finish and say so
            print(f"{name} arrived as the run completed; it is whole", file=sys.stderr)
            return
        if not (run.path / CONFIG).exists():
            raise Interrupted(signum, f"interrupted by {name} before training started; nothing was kept")
        state = read_state(run.path)
        kept = (
            f"the checkpoint after epoch {state['epoch']} of {run.config.train.epochs} is kept"
            if state
            else "no epoch had finished yet"
        )
        raise Interrupted(signum, f"interrupted by {name}; {kept}. Resume with: {resume_command(run.path)}")

    def handler(signum, frame) -> None:
        if _deferral.depth or run.complete():
            _deferral.pending = signum
        else:
            interrupt(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    _deferral.handler, _deferral.pending = interrupt, None
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _deferral.handler, _deferral.pending = None, None


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
        """The trained Keras model (checked, then loaded in safe mode: no code is deserialised)."""
        return load_model_file(self.path / "model.keras")


# --- loading models safely ----------------------------------------------------------


def check_keras_file(path: Path) -> None:
    """Refuse a model file that could run code when loaded, before Keras reads it.

    Only `.keras` archives are accepted; their config.json may name Keras'
    own classes only: no Lambda layer (it carries Python bytecode) and no
    `module` outside `keras`.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise RunError(f"{path}: only .keras model files are loaded; '{path.suffix or path.name}' files are refused")
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("config.json")
            if info.file_size > MAX_CONFIG_JSON:
                raise RunError(f"{path}: its config.json is larger than {MAX_CONFIG_JSON:,} bytes; refused")
            config = json.loads(zf.read(info))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise RunError(f"{path}: not a valid .keras file ({exc}); expected a model saved by `rnn train`") from None
    problem = _unsafe_part(config)
    if problem:
        raise RunError(f"{path}: refused: {problem}; only Keras' own layers are loaded")


def _unsafe_part(config: Any) -> str | None:
    """The first part of a Keras config that names code, or None (iterative: deep configs cannot recurse us)."""
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("class_name") in ("Lambda", "__lambda__"):
                return "it holds a Lambda layer (Python code)"
            module = node.get("module")
            if module is not None and not (isinstance(module, str) and (module == "keras" or module.startswith("keras."))):
                return f"it names module {module!r}, which is outside Keras"
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def load_model_file(path: Path):
    """Load a `.keras` model after `check_keras_file`, with Keras' safe_mode on."""
    check_keras_file(path)
    from rnn_recipes.backend import import_keras

    keras = import_keras()
    return keras.saving.load_model(path, safe_mode=True)


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
