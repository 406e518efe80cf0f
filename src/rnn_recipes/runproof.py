"""Whether a directory is provably a run of this tool, so that `--overwrite` or a resume may replace it.

The tool never deletes what it cannot prove it wrote: a directory is replaced
only when it holds a valid manifest, checkpoint state or run config, and
nothing `rnn train` does not write.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from rnn_recipes.checkpoint_state import CHECKPOINT, REPLACES, STATE, read_state
from rnn_recipes.config_load import load_config
from rnn_recipes.errors import UserError
from rnn_recipes.fileio import read_text_bounded

MANIFEST = "manifest.json"
CONFIG = "config.yaml"
LOCK = ".lock"
TENSORBOARD = "tensorboard"  # output.tensorboard's event files: the one folder of a run besides its checkpoint

# What `rnn train` writes into a run directory; anything else in it means it is not (only) a run.
RUN_FILES = frozenset({
    CONFIG, MANIFEST, LOCK, "model.keras", "vocab.json", "history.csv", "metrics.json", "summary.txt",
    "versions.json", "runtime.json", "curves.png", "predictions.png", "confusion.png", "samples.txt", "series.json",
    "inference.keras", "vectorizer.json", CHECKPOINT,
})
_OWN_TEMP = re.compile(r"\..+\.\d+\.tmp.*|\.probe\.\d+")  # atomic_write's and the writability probe's
_CHECKPOINT_FILES = re.compile(rf"epoch-\d{{4,}}\.keras|best-\d{{4,}}\.npz|{STATE}|{REPLACES}|\..+\.\d+\.tmp.*")
MAX_RUN_FILE = 16_000_000  # a run's config, manifest or replaces: kilobytes


def replace_refusal(path: Path) -> str | None:
    """Why `path` may not be deleted to make room for a new run, or None when it provably is a run of this tool.

    A run has a valid manifest, or a valid checkpoint state, or a config that
    validates as a run config; and it holds nothing `rnn train` does not
    write (a user's notes or sources beside a config.yaml are never deleted).
    """
    if path.is_symlink() or not path.is_dir():
        return "is not a directory"
    listed: set[str] = set()
    proof = None
    if os.path.lexists(path / MANIFEST):
        try:
            files = json.loads(read_text_bounded(path / MANIFEST, MAX_RUN_FILE, what=MANIFEST, follow=False))["files"]
            if isinstance(files, dict) and all(isinstance(k, str) and "/" not in k for k in files):
                listed, proof = set(files), MANIFEST
        except (UserError, ValueError, KeyError, TypeError, RecursionError):
            pass
    if proof is None and os.path.lexists(path / CHECKPOINT / STATE):
        try:
            if read_state(path) is not None:
                proof = f"{CHECKPOINT}/{STATE}"
        except UserError:
            pass
    if proof is None and (path / CONFIG).is_file() and not (path / CONFIG).is_symlink():
        try:
            load_config(path / CONFIG)
            proof = CONFIG
        except UserError:
            pass
    if proof is None:
        return f"is not a run directory (no valid {MANIFEST}, {CHECKPOINT}/{STATE} or {CONFIG})"
    for entry in path.iterdir():
        name = entry.name
        if entry.is_symlink():
            return f"holds {name!r}, a symlink `rnn train` never writes"
        if name == CHECKPOINT and entry.is_dir():
            extra = next((e.name for e in entry.iterdir() if e.is_symlink() or not _CHECKPOINT_FILES.fullmatch(e.name)), None)
            if extra:
                return f"holds {CHECKPOINT}/{extra!r}, which `rnn train` never writes"
            continue
        if name == TENSORBOARD and entry.is_dir():
            continue
        if (name in RUN_FILES or name in listed or _OWN_TEMP.fullmatch(name)) and entry.is_file():
            continue
        return f"holds {name!r}, which `rnn train` never writes"
    return None
