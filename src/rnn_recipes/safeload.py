"""Loading Keras model files safely: refuse a file that could run code before Keras reads it.

May import: errors, fileio, backend and the modules that register the project's own Keras
objects (`OWN_MODULES`, inside `load_model_file` only, so TensorFlow loads when a model does).
"""

from __future__ import annotations

import importlib
import json
import zipfile
from pathlib import Path
from typing import Any

from rnn_recipes.errors import RunError
from rnn_recipes.fileio import open_regular

MAX_CONFIG_JSON = 10_000_000  # a model's config.json is kilobytes; refuse zip bombs before reading
MAX_MODEL_BYTES = 8_000_000_000  # the file, and everything in it uncompressed: the largest model a config allows
MAX_CONFIG_DEPTH = 200  # a model's config nests a dozen levels; deeper would exhaust Keras' recursion
# The project's own Keras objects, registered when their module is imported: the only code outside
# `keras` a model may name. Classes by module and name; functions (a loss) by the name Keras registers.
OWN_MODULES = ("rnn_recipes.cells", "rnn_recipes.crf", "rnn_recipes.attention")
OWN_CLASSES = {
    ("rnn_recipes.cells", "PeepholeLSTM"), ("rnn_recipes.cells", "PeepholeLSTMCell"),
    ("rnn_recipes.crf", "CRF"), ("rnn_recipes.attention", "LocalAttention"),
}
OWN_FUNCTIONS = {"rnn_recipes>crf_loss"}


def check_keras_file(path: Path, *, follow: bool = True) -> None:
    """Refuse a model file that could run code when loaded, before Keras reads it.

    Only `.keras` archives are accepted; their config.json may name Keras'
    own classes only: no Lambda layer (it carries Python bytecode) and no
    `module` outside `keras` but the project's registered layers and loss (`OWN_CLASSES`, `OWN_FUNCTIONS`).
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise RunError(f"{path}: only .keras model files are loaded; '{path.suffix or path.name}' files are refused")
    fh = open_regular(path, MAX_MODEL_BYTES, what="model file", follow=follow)  # no FIFO, device or link out
    try:
        with fh, zipfile.ZipFile(fh) as zf:
            if sum(i.file_size for i in zf.infolist()) > MAX_MODEL_BYTES:
                raise RunError(f"{path}: its contents unpack to more than {MAX_MODEL_BYTES:,} bytes (zip bomb?); refused")
            info = zf.getinfo("config.json")
            if info.file_size > MAX_CONFIG_JSON:
                raise RunError(f"{path}: its config.json is larger than {MAX_CONFIG_JSON:,} bytes; refused")
            config = json.loads(zf.read(info))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, OSError, RecursionError, EOFError) as exc:
        raise RunError(f"{path}: not a valid .keras file ({type(exc).__name__}: {str(exc)[:200]}); expected a model saved by `rnn train`") from None
    if _depth(config) > MAX_CONFIG_DEPTH:
        raise RunError(f"{path}: its config.json nests deeper than {MAX_CONFIG_DEPTH} levels; refused")
    problem = _unsafe_part(config)
    if problem:
        raise RunError(f"{path}: refused: {problem}; only Keras' own layers and rnn_recipes' registered ones are loaded")


def _unsafe_part(config: Any) -> str | None:
    """The first part of a Keras config that names code, or None (iterative: deep configs cannot recurse us)."""
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("class_name") in ("Lambda", "__lambda__"):
                return "it holds a Lambda layer (Python code)"
            module = node.get("module")
            if module is not None and not _allowed(module, node.get("class_name"), node.get("config")):
                return f"it names module {module!r}, which is outside Keras"
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def _allowed(module: Any, class_name: Any, config: Any) -> bool:
    """Whether a config may name `class_name` from `module`: Keras' own, or the project's registered objects
    (a registered function is written as module builtins, class function, config its registered name)."""
    if not isinstance(module, str):
        return False
    if module == "keras" or module.startswith("keras."):
        return True
    if module == "builtins" and class_name == "function":
        return isinstance(config, str) and config in OWN_FUNCTIONS
    return isinstance(class_name, str) and (module, class_name) in OWN_CLASSES


def _depth(config: Any) -> int:
    """How deep a parsed JSON value nests (iterative)."""
    deepest, stack = 0, [(config, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def load_model_file(path: Path, *, within_run: bool = False):
    """Load a `.keras` model after `check_keras_file`, with Keras' safe_mode on.

    `within_run`: the file belongs to a run directory, so a symlink is refused.
    Whatever Keras refuses in a checked file (missing weights, a config it
    cannot rebuild) is one RunError.
    """
    check_keras_file(path, follow=not within_run)
    for module in OWN_MODULES:  # registers the project's layers and loss with Keras
        importlib.import_module(module)
    from rnn_recipes.backend import import_keras

    keras = import_keras()

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except (MemoryError, RecursionError, Exception) as exc:  # noqa: BLE001 - Keras raises many types for bad files
        detail = " ".join(str(exc).split())[:200]
        raise RunError(f"{path}: Keras cannot load it ({type(exc).__name__}: {detail}); expected a model saved by `rnn train`") from None
