"""Loading Keras model files safely: refuse a file that could run code before Keras reads it.

May import: errors, backend (inside `load_model_file` only, so TensorFlow
loads when a model does).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from rnn_recipes.errors import RunError

MAX_CONFIG_JSON = 10_000_000  # a model's config.json is kilobytes; refuse zip bombs before reading


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
