"""The package's import graph flows one way, as docs/architecture.md draws it.

Each module may import only modules listed before it in `ORDER` (imports
inside functions count too; `if TYPE_CHECKING:` imports do not, they never
run). A new module must be placed in `ORDER` and in docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "src" / "rnn_recipes"

# lowest first; the groups are the layers of docs/architecture.md
ORDER = [
    # foundations: no project imports, or only each other
    "errors", "fileio", "signals", "backend", "compat", "bundled", "cells", "allocator",
    # config
    "safeyaml", "config_data", "config", "config_load", "schedules",
    # what a run means and decides (a seq2seq task's baselines decode: the step decoder sits below the task record)
    "baselines", "tag_metrics", "forecast_baselines", "seq2seq_scores", "attention", "seq2seq_model", "decode", "tasks",
    "codec", "runtime", "checkpoint_state", "crf", "safeload",
    # data and run directories
    "dataset", "fetch", "imdb", "labelled_files", "labelled", "vectorizer", "labelled_text", "tagged", "imdb_text",
    "pairs", "series_csv", "series", "timing", "data", "runproof", "rundir", "runs",
    # model and training parts
    "pipeline", "intervals", "model", "gradguard", "plots", "metrics", "forecast", "numpy_rnn", "engine", "controls",
    "progress", "tensorboard_log",
    "checkpoint", "distribute", "autotune",
    # commands as library functions
    "train", "evaluate", "predict_input", "predict", "export", "generate", "sessions", "diagnose", "recipes", "leaderboard",
    "served", "serve", "api",
    # the command line
    "cli_common", "cli_recipes", "cli", "__main__",
]


def project_imports(path: Path) -> set[str]:
    """Modules of the package that `path` imports, at any depth, outside `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and getattr(node.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "rnn_recipes":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("rnn_recipes."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("rnn_recipes."))
    return found


def test_every_module_has_a_place_in_the_layers():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules - set(ORDER) == set(), "place the new module in ORDER and in docs/architecture.md"
    assert set(ORDER) - modules == set(), "a module in ORDER no longer exists"


@pytest.mark.parametrize("module", ORDER)
def test_imports_point_down_the_layers(module):
    allowed = set(ORDER[: ORDER.index(module)])
    upward = project_imports(PACKAGE / f"{module}.py") - allowed
    assert not upward, f"{module} imports {sorted(upward)}, which sit above it in docs/architecture.md"


def test_the_architecture_doc_names_every_module():
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [m for m in ORDER if f"`{m}.py`" not in doc]
    assert not missing, f"docs/architecture.md does not describe {missing}"


# the modules of the config schema, which import nothing of the project but each other
SCHEMA = ["config_data", "config"]


@pytest.mark.parametrize("module", SCHEMA)
def test_the_config_schema_imports_nothing_of_the_project(module):
    assert project_imports(PACKAGE / f"{module}.py") <= set(SCHEMA) - {module}
