# Two commands: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,report]'
	touch $(STAMP)

demo: $(STAMP)  ## sandbox API -> pmcrm_demo.duckdb -> summary
	$(BIN)/pmcrm demo

test: $(STAMP)  ## lint, then the whole suite, as CI runs it: two workers, one test file per worker at a time
	$(BIN)/ruff check
	bash scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)  ## performance benchmarks (not part of the tests), with a profile of scenario 1
	$(BIN)/pip install -q -e '.[bench]'
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/run.py --profile $(BENCH_ARGS)

clean:
	rm -rf $(VENV) pmcrm_demo.duckdb pmcrm.duckdb .pytest_cache
