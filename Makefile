# The README's two commands: `make demo` and `make test`. Both build their own venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= alerts-demo

.PHONY: demo test lint typecheck unit install bench bench-windows clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/retrohunt scan corpora/falcon/sample.jsonl.zst --out $(OUT)

lint: $(STAMP)
	$(BIN)/ruff format --check batch tests benchmarks
	$(BIN)/ruff check batch tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# SigmaHQ-scale Windows benchmark: RULES defaults to ../shared/sigmahq-rules/rules/windows.
bench-windows: $(STAMP)
	$(BIN)/python benchmarks/windows.py $(if $(RULES),--rules $(RULES)) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
