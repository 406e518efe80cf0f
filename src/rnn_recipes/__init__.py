"""rnn-recipes: train recurrent networks from a YAML config.

The Python API (`rnn_recipes.api`) is found here without importing TensorFlow:

    from rnn_recipes import train, load_run, predict, export
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

API = ("train", "load_run", "predict", "export")  # rnn_recipes.api's functions, found here when first asked for


class _Package(types.ModuleType):
    """This package, whose API names always mean the API functions.

    Three of them share a name with a submodule (`train.py`, `predict.py`,
    `export.py`), and importing a submodule sets it as an attribute of its
    package; looking the API names up first keeps `from rnn_recipes import
    train` the function, whatever was imported before. Reach a submodule of
    those names by `from rnn_recipes.train import ...` or
    `importlib.import_module("rnn_recipes.train")`.
    """

    def __getattribute__(self, name: str):
        if name in API:
            return getattr(importlib.import_module("rnn_recipes.api"), name)
        return super().__getattribute__(name)


sys.modules[__name__].__class__ = _Package
