"""Bitwise guard: one tiny training run must end on exactly the weights recorded in golden_weights.json.

The golden value was produced by the code before the module split, so a refactor that
is meant to change no behaviour can be checked bit for bit. The run goes through the
command line in a fresh process (`python -m rnn_recipes train`), which is the interface
least likely to move, and which no earlier test in this process can perturb.

The bits depend on the TensorFlow / Keras / NumPy versions and on the CPU's kernels, so
the file records the versions it was made with, and the test skips, saying so, under
others. To record a new golden on purpose (after a change meant to alter training):

    RNN_RECORD_GOLDEN=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest

from conftest import ROOT, TINY

GOLDEN = ROOT / "tests" / "golden_weights.json"
CONFIG = TINY / "sine_simple_rnn.yaml"
SETS = ["train.jit_compile=false", "train.epochs=3"]  # XLA is not bitwise-reproducible; 3 epochs is enough to move every weight
VERSIONED = ["keras", "tensorflow", "numpy"]


def weights_digest(model) -> tuple[str, list[str]]:
    """sha256 of every weight, in the model's order, as float32 C-order bytes; and their shapes."""
    h = hashlib.sha256()
    shapes = []
    for w in model.get_weights():
        a = np.ascontiguousarray(w, dtype=np.float32)
        h.update(a.tobytes())
        shapes.append("x".join(map(str, a.shape)) or "scalar")
    return h.hexdigest(), shapes


@pytest.mark.slow
def test_tiny_sine_run_ends_on_the_golden_weights(tmp_path):
    versions = {name: metadata.version(name) for name in VERSIONED}
    recording = os.environ.get("RNN_RECORD_GOLDEN") == "1"
    golden = None if recording else json.loads(GOLDEN.read_text())
    if golden is not None and golden["versions"] != versions:
        pytest.skip(f"golden weights were recorded under {golden['versions']}, this is {versions}; "
                    "re-record at a commit known to be right (see this module's docstring)")

    # CPU only, so a visible GPU does not pick other kernels
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    sets = [a for s in SETS for a in ("--set", s)]
    cmd = [sys.executable, "-m", "rnn_recipes", "train", str(CONFIG), *sets, "--out", str(tmp_path / "run")]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]

    import keras

    digest, shapes = weights_digest(keras.saving.load_model(tmp_path / "run" / "model.keras"))
    if recording:
        record = {
            "sha256": digest,
            "shapes": shapes,
            "config": str(CONFIG.relative_to(ROOT)),
            "set": SETS,
            "versions": versions,
            "how": "sha256 of model.get_weights() as float32 bytes, in order, after `rnn train CONFIG --set ...` "
                   "on CPU; see tests/test_golden.py",
        }
        GOLDEN.write_text(json.dumps(record, indent=2) + "\n")
        pytest.skip(f"recorded {digest} in {GOLDEN.name}")
    assert shapes == golden["shapes"]
    assert digest == golden["sha256"], "the tiny sine run no longer ends on the golden weights, bit for bit"
