# rnn-recipes: `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: help install demo test test-fast bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/rnn: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/rnn ## Create .venv and install the package with its test tools

demo: install ## Train a character model on the bundled corpus and a sine model; no download
	$(BIN)/rnn train text_lstm
	$(BIN)/rnn train sine_simplernn

test: install ## Run the whole test suite (what CI runs)
	$(BIN)/python -m pytest -q

test-fast: install ## Run the tests that train nothing
	$(BIN)/python -m pytest -q -m "not slow"

clean: ## Remove run directories and caches (keeps .venv)
	rm -rf runs .pytest_cache .hypothesis
