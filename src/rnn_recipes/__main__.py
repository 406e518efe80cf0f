"""`python -m rnn_recipes` runs the `rnn` command line."""

from rnn_recipes.cli import app

app(prog_name="rnn")
