"""Opening a run directory for training: create, lock, stage an --overwrite, reopen to resume, mark complete.

A run directory is self-sufficient: model.keras, the resolved config.yaml,
vocab.json (text), history.csv, metrics.json, summary.txt, versions.json and
plots, each written atomically (fileio.py); manifest.json, with each
artifact's sha256, is written last and marks the run complete.

While a run trains, `checkpoint/` holds its last completed epoch (see
checkpoint.py) and `.lock` keeps a second training out. `--overwrite` trains
into a hidden sibling and swaps it in only once it is complete.

May import: checkpoint_state, config, config_load, errors, fileio, runproof, signals.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import stat
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from rnn_recipes.checkpoint_state import CHECKPOINT, REPLACES, check_resumable, read_state, resume_command
from rnn_recipes.config import Config, dump_config
from rnn_recipes.config_load import load_config
from rnn_recipes.errors import ConfigError, Interrupted, RunError
from rnn_recipes.fileio import fsync_dir, read_text_bounded, sha256_file, sha256_regular, write_json, write_text
from rnn_recipes.runproof import CONFIG, LOCK, MANIFEST, MAX_RUN_FILE, replace_refusal
from rnn_recipes.signals import deferred_signals, signals_interrupt



def require_run_dir(path: Path) -> None:
    """Refuse a path that is not a directory written by `rnn train` (it has a config.yaml)."""
    if not path.is_dir():
        raise RunError(f"run directory not found: {path}")
    if not (path / CONFIG).is_file():
        raise RunError(f"{path} is not a run directory (no {CONFIG}); expected a directory written by `rnn train`")


def training_config(
    config: Path | None, overrides: list[str], *, resume: Path | None = None, out: Path | None = None, overwrite: bool = False
) -> Config:
    """The config `rnn train` trains: `config` with `overrides`, or with --resume alone, the run's own config.

    Args:
        config: a config file; None to resume `resume` under the config it was started with.
        overrides: `KEY.PATH=VALUE` settings, as `--set`.
        resume: an unfinished run directory to continue in place.
        out, overwrite: as `open_run` takes them; refused together with `resume`.
    """
    if resume is not None and (out is not None or overwrite):
        raise ConfigError("--resume continues its run directory in place; it takes no --out or --overwrite")
    if config is None and resume is None:
        raise ConfigError("give a CONFIG to train (see `rnn configs`), or --resume RUN_DIR")
    if config is None:
        require_run_dir(resume)
        config = resume / CONFIG
    return load_config(config, overrides)


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
                fsync_dir(self.final.parent)
                shutil.rmtree(old, ignore_errors=True)
        return self.final


@contextmanager
def open_run(
    cfg: Config, out: Path | None = None, *, resume: Path | None = None, overwrite: bool = False,
    data_sha256: str | None = None,
) -> Iterator[RunDir]:
    """Create (or reopen, for `resume`) a run directory, locked, with SIGINT/SIGTERM turned into `Interrupted`.

    Args:
        cfg: the run's validated config.
        out: the run directory; default `output.dir/<name>-<timestamp>`.
        resume: an unfinished run directory to continue in place.
        overwrite: replace an existing run at `out`, once the new one is complete.
        data_sha256: the content hash of the data read, which a resumed checkpoint must share.
    """
    run = _reopen(Path(resume), cfg, data_sha256) if resume is not None else _create(cfg, out, overwrite)
    try:
        with signals_interrupt(_interrupter(run), run.complete):
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
    if os.path.lexists(out) and (out.is_symlink() or not out.is_dir()):
        raise RunError(f"--out {out} exists and is not a directory; choose another --out")
    if overwrite and (out.name in ("", ".", "..") or Path(os.path.abspath(out)) == Path.cwd()):
        raise RunError(f"--out {out} --overwrite would replace the working directory; name the run directory, e.g. --out runs/r")
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
    problem = replace_refusal(out)  # never delete a directory we did not write
    if problem:
        raise RunError(f"{out} {problem}; --overwrite replaces only runs of `rnn train`, nothing else is deleted")
    locks = [_lock(out)]
    try:
        staging = out.with_name(f".{out.name}.new")
        if os.path.lexists(staging):  # an abandoned --overwrite; make sure it is ours and nobody is resuming it
            problem = replace_refusal(staging)
            if problem:
                raise RunError(f"{staging} {problem}; remove it yourself or choose another --out")
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


def _reopen(path: Path, cfg: Config, data_sha256: str | None = None) -> RunDir:
    require_run_dir(path)
    if (path / MANIFEST).is_file():
        raise RunError(f"{path} is a finished run; there is nothing to resume")
    final = _replaced_run(path)
    lock = _lock(path)
    try:
        state = read_state(path)
        if state is not None:  # before anything is rewritten: a refused resume leaves the run as it was
            check_resumable(path, state, cfg, data_sha256=data_sha256)
            _check_checkpoint_files(path, state)
        for stale in path.glob(".*.tmp*"):  # a killed training's half-written file; nobody else writes here
            stale.unlink()
    except BaseException:
        os.close(lock)
        raise
    return RunDir(path, final, cfg, [lock])


def _replaced_run(path: Path) -> Path:
    """The run an --overwrite staging directory will replace (its checkpoint/replaces), or `path` itself.

    `replaces` names a sibling; it is checked exactly as --overwrite checks its target.
    """
    replaces = path / CHECKPOINT / REPLACES
    if not os.path.lexists(replaces):
        return path
    name = read_text_bounded(replaces, MAX_RUN_FILE, what=f"{CHECKPOINT}/{REPLACES}", follow=False).strip()
    expected = path.name[1:-len(".new")] if path.name.startswith(".") and path.name.endswith(".new") else None
    if name != expected or not name or name in (".", "..") or "/" in name or "\0" in name:
        raise RunError(
            f"{replaces} names {name[:100]!r}, not the run this staging directory was made for "
            f"({expected!r}); the checkpoint cannot be trusted"
        )
    final = path.with_name(name)
    if os.path.lexists(final):
        problem = replace_refusal(final)
        if problem:
            raise RunError(f"{replaces}: {final} {problem}; it will not be replaced")
    return final


MAX_CHECKPOINT_FILE = 8_000_000_000  # as safeload.MAX_MODEL_BYTES: the largest model a config allows


def _check_checkpoint_files(path: Path, state: dict) -> None:
    """The checkpoint's files are whole (their sha256 matches state.json), checked before anything is rewritten."""
    es = state.get("early_stopping") or {}
    for name, digest in ((state["model"], state["model_sha256"]), (es.get("best_weights"), es.get("best_sha256"))):
        if name is None:
            continue
        file = path / CHECKPOINT / name
        if not os.path.lexists(file) or sha256_regular(file, MAX_CHECKPOINT_FILE, what=name) != digest:
            raise RunError(f"{file} is missing or changed; the checkpoint cannot be trusted")


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
    try:  # never through a symlink, and never a FIFO or device planted as .lock
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        raise RunError(f"cannot lock {path / LOCK}: {exc.strerror or exc}; it must be a plain file (remove it)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RunError(f"{path / LOCK} is not a regular file; remove it")
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



def save_config(run_dir: Path, cfg: Config) -> None:
    write_text(run_dir / CONFIG, dump_config(cfg))


def write_manifest(run_dir: Path) -> None:
    """Hash every artifact and write manifest.json last: the run is now complete."""
    files = sorted(p for p in run_dir.iterdir() if p.is_file() and p.name != MANIFEST and not p.name.startswith("."))
    write_json(run_dir / MANIFEST, {"files": {p.name: sha256_file(p) for p in files}})


def _interrupter(run: RunDir) -> Callable[[int], None]:
    """What SIGINT/SIGTERM do to a training in `run`: raise `Interrupted` with what was kept and how to resume."""

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

    return interrupt
