"""The `rnn recipe ...` commands and `rnn sweep`: train a recipe's variants, rank them, check their bands.

`recipe_app` is the `rnn recipe` sub-app and `sweep` a top-level command;
cli.py adds both to `rnn`. TensorFlow is imported only once a command runs.
"""

from __future__ import annotations

import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Annotated, Optional

import typer

from rnn_recipes.cli_common import CONFIG_HELP, resolve_config, user_errors

RECIPE_HELP = "A recipe file, or the name of a bundled recipe (see `rnn recipe list`)."
OUT_HELP = "Where recipe runs live: OUT/<recipe>/<variant>/."
RecipeName = Annotated[str, typer.Argument(help=RECIPE_HELP, show_default=False)]
RecipesOut = Annotated[Path, typer.Option(help=OUT_HELP)]

recipe_app = typer.Typer(help="Train, compare and check the variants a recipe describes.", no_args_is_help=True)


def _run_and_rank(recipe, out: Path) -> None:
    """Train the recipe's variants (progress on stderr) and print its leaderboard."""
    from rnn_recipes.leaderboard import run_recipe

    with redirect_stdout(sys.stderr):  # training progress to stderr; stdout carries the leaderboard
        root = run_recipe(recipe, out, log=lambda line: print(line, file=sys.stderr))
    typer.echo((root / "leaderboard.md").read_text(encoding="utf-8"), nl=False)
    typer.echo(f"wrote {root / 'leaderboard.md'}, leaderboard.csv and curves.png", err=True)


@recipe_app.command("run")
def recipe_run(recipe: RecipeName, out: RecipesOut = Path("runs")) -> None:
    """Train every variant (finished ones are skipped), then write a leaderboard and learning curves."""
    with user_errors():
        from rnn_recipes.recipes import load_recipe

        _run_and_rank(load_recipe(recipe), out)


@recipe_app.command("check")
def recipe_check(recipe: RecipeName, out: RecipesOut = Path("runs")) -> None:
    """Compare each variant's results with its expected bands; exit 1 if any band fails."""
    with user_errors():
        from rnn_recipes.leaderboard import check_recipe
        from rnn_recipes.recipes import load_recipe

        checks = check_recipe(load_recipe(recipe), out)
    for check in checks:
        typer.echo(check.line())
    failed = sum(not c.passed for c in checks)
    typer.echo(f"{len(checks) - failed}/{len(checks)} bands pass")
    if failed:
        raise typer.Exit(1)


@recipe_app.command("list")
def recipe_list() -> None:
    """List the bundled recipes, one line each."""
    with user_errors():
        from rnn_recipes.recipes import list_recipes

        for name, about in list_recipes():
            typer.echo(f"{name:<24} {about}")


def sweep(
    config: Annotated[str, typer.Argument(help=CONFIG_HELP, show_default=False)],
    axes: Annotated[list[str], typer.Argument(help="KEY=V1,V2,... per axis; every combination trains.", show_default=False)],
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a key in every variant (repeatable).")] = None,
    name: Annotated[Optional[str], typer.Option(help="The sweep's name (default sweep-<config>).")] = None,
    out: RecipesOut = Path("runs"),
) -> None:
    """Train a config over a matrix of values, e.g. model.cell=simple_rnn,lstm,gru, and rank the results."""
    with user_errors():
        from rnn_recipes.recipes import sweep_recipe

        _run_and_rank(sweep_recipe(resolve_config(config), axes, set_ or [], name), out)
