"""A run's checkpoint state: reading `checkpoint/state.json`, and whether a config may resume it.

`checkpoint.py` writes the checkpoint and needs Keras; this module only reads
its state and judges a resume, so the run directory code and the distributed
launcher can ask about a checkpoint without importing TensorFlow.

May import: config, config_load, errors, fileio.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

from rnn_recipes.config import Config
from rnn_recipes.config_load import flatten
from rnn_recipes.errors import RunError
from rnn_recipes.fileio import read_text_bounded

CHECKPOINT = "checkpoint"  # the last completed epoch of an unfinished run
STATE = "state.json"  # inside CHECKPOINT: written last, it names the checkpoint's files
REPLACES = "replaces"  # inside CHECKPOINT of an --overwrite run: the run it will replace


def resume_command(run_dir: Path) -> str:
    return f"rnn train --resume {shlex.quote(str(run_dir))}"


MAX_STATE_BYTES = 64_000_000  # the history of a million epochs; a real state.json is kilobytes


def read_state(run_dir: Path) -> dict | None:
    """The checkpoint state of an unfinished run, or None when no epoch has completed."""
    path = Path(run_dir) / CHECKPOINT / STATE
    if not os.path.lexists(path):
        return None
    text = read_text_bounded(path, MAX_STATE_BYTES, what=STATE, follow=False)
    try:
        state = json.loads(text)
        es = state.get("early_stopping") or {}
        history = state["history"]
        valid = (
            type(state["epoch"]) is int
            and state["epoch"] >= 1
            and isinstance(history, dict)
            and all(
                isinstance(k, str) and isinstance(v, list) and len(v) == state["epoch"]
                and all(type(x) in (int, float) for x in v)
                for k, v in history.items()
            )
            and "loss" in history
            and isinstance(state["model_sha256"], str)
            and re.fullmatch(r"[0-9a-f]{64}", state["model_sha256"])
            # names inside checkpoint/, never a path elsewhere
            and isinstance(state["model"], str)
            and re.fullmatch(r"epoch-\d{4,}\.keras", state["model"])
            and isinstance(es, dict)
            and (es.get("best_weights") is None or (isinstance(es["best_weights"], str) and re.fullmatch(r"best-\d{4,}\.npz", es["best_weights"])))
            and isinstance(state.get("fingerprint", {}), dict)
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        valid = False
    if not valid:
        raise RunError(f"{path} is unreadable or altered; the checkpoint cannot be trusted")
    return state


# --- resuming: what a checkpoint fixes --------------------------------------

# What a resumed run may not change: the weights and optimizer state only fit these.
FROZEN_SECTIONS = ("seed", "data", "encoding", "model")
# mixed_float16 adds loss-scale state to the optimizer; eval_every sets what a checkpoint's "epoch" counts
FROZEN_TRAIN_KEYS = ("optimizer", "precision", "eval_every")
# Frozen keys added since checkpoints were first written, with the value a checkpoint without them
# was trained under: at that value they stay out of the fingerprint, so such a checkpoint still resumes.
ADDED_KEYS = {"train.precision": "float32", "train.eval_every": None}


def fingerprint(cfg: Config) -> dict[str, Any]:
    """The flattened part of a config that a resumed run must share with its checkpoint."""
    full = cfg.to_dict()
    part = {k: full[k] for k in FROZEN_SECTIONS}
    part["train"] = {k: full["train"][k] for k in FROZEN_TRAIN_KEYS}
    return {k: v for k, v in flatten(part).items() if k not in ADDED_KEYS or v != ADDED_KEYS[k]}


def fingerprint_hash(cfg: Config) -> str:
    return hashlib.sha256(json.dumps(fingerprint(cfg), sort_keys=True).encode()).hexdigest()


def check_resumable(
    run_dir: Path, state: dict, cfg: Config, *, epochs: int | None = None, data_sha256: str | None = None
) -> None:
    """Refuse to continue a checkpoint under a config, or data, it does not fit.

    `epochs` is what the run's fit counts: `train.epochs`, or its intervals with `train.eval_every`
    (counted from the data: without them, the count is checked when the checkpoint is restored).
    `data_sha256` is `Dataset.content_sha256()` of the data now read; a
    checkpoint written before it was recorded is not checked against it.
    """
    epochs = cfg.train.epochs if epochs is None and cfg.train.eval_every is None else epochs
    if epochs is not None and state["epoch"] > epochs:
        what = "epochs" if cfg.train.eval_every is None else f"intervals of {cfg.train.eval_every} steps"
        raise RunError(
            f"{run_dir}: it has trained {state['epoch']} {what} already; train.epochs ({cfg.train.epochs}) must be at least that"
        )
    if state.get("config_hash") == fingerprint_hash(cfg):
        saved = state.get("data_sha256")
        if data_sha256 is not None and saved is not None and saved != data_sha256:
            raise RunError(
                f"{run_dir}: cannot resume: the data changed since the checkpoint (the corpus or file read "
                f"now hashes differently), so the weights no longer fit it; restore the data or start a new run"
            )
        return
    old, new = {**ADDED_KEYS, **state.get("fingerprint", {})}, {**ADDED_KEYS, **fingerprint(cfg)}
    changed = next((k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)), "the config")
    raise RunError(
        f"{run_dir}: cannot resume: {changed} changed ({old.get(changed)!r} -> {new.get(changed)!r}); "
        f"a resumed run keeps its seed, data, encoding, model, train.optimizer and train.precision "
        f"(epochs, patience, learning_rate, batch_size may change); start a new run instead"
    )
