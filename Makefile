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

demo: install ## Train the seed's hello-world model, a character LSTM and a sine model, and generate; no download
	$(BIN)/rnn train hello_lstm
	$(BIN)/rnn generate --seed hel --length 8 --temperature 0
	$(BIN)/rnn train text_lstm
	$(BIN)/rnn generate --seed "A recurrent network " --length 300 --temperature 0.7 --rng-seed 0
	$(BIN)/rnn train sine_simplernn

# one pytest-xdist worker per core (TEST_WORKERS=0: all in this one process); a test file stays on one worker, so its
# module fixtures are built once, and the files that train most go first (tests/conftest.py)
TEST_WORKERS ?= auto
PARALLEL := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: install ## Run the whole test suite on every core and list its 15 slowest tests (what CI runs)
	$(BIN)/python -m pytest -q --durations=15 $(PARALLEL)

test-fast: install ## Run the tests that train nothing
	$(BIN)/python -m pytest -q -m "not slow" $(PARALLEL)

bench: install ## Time training against a seed-style Keras script and PyTorch (quick mode; see docs/benchmarks.md)
	$(BIN)/python -m benchmarks.training --quick

clean: ## Remove run directories and caches (keeps .venv)
	rm -rf runs .pytest_cache .hypothesis
