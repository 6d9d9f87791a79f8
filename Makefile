# Everything a fresh machine needs: `make serve` runs the fake, `make test` runs the whole suite
# (with a short fuzzing profile and the soak test), `make fuzz` fuzzes at length,
# `make bench` measures the fake against a bare-Starlette ceiling (bench/README.md; ARGS=--quick).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
ARGS   ?=

.PHONY: install serve test fuzz lint check bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/evolink-mock serve $(ARGS)

# Two runs: the fake's own tests (testpaths), then the contract suite against the in-process fake
# (contract_tests/ has its own plugin options). Both run even if the first fails.
test: $(STAMP)
	$(BIN)/python -m pytest; fake=$$?; $(BIN)/python -m pytest contract_tests; contract=$$?; \
	test $$fake -eq 0 && test $$contract -eq 0

# The long fuzzing profile (docs/reliability.md): at least 10 000 requests generated from our own
# OpenAPI against the in-process fake, a fresh seed each run; prints the request count and failures.
# `make test` runs the same tests with a small, derandomized profile.
fuzz: $(STAMP)
	EVOLINK_FUZZ=long $(BIN)/python -m pytest tests/test_fuzz_openapi.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy mock_server contract_tests

check: lint test

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

# wrk comes from the OS packages: bench/run.py installs it with apt-get when missing and it can.
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache .mypy_cache
