"""Every `>>>` example in the package's docstrings runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil
from contextlib import redirect_stdout

import pytest

import rnn_recipes
from conftest import ROOT

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(rnn_recipes.__path__, "rnn_recipes.") if not m.name.endswith(".__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # examples name files as the README does, from the repository root
    module = importlib.import_module(name)
    report = io.StringIO()
    with redirect_stdout(report):
        failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failed == 0, report.getvalue()
