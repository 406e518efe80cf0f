"""rnn-recipes: train recurrent networks from a YAML config."""

__version__ = "0.1.0"
