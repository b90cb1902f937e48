# dynsearch developer commands. `make test` is the one CI runs (.ci/run).

PYTHON      ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
# Re-install only when the project's requirements change.
STAMP       := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv test lint quickstart clean-venv

venv: $(STAMP)

# constraints.txt pins torch to the CPU wheel: an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e ".[test]"
	touch $@

test: venv
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

LINT_STAMP  := $(VENV)/.lint-installed

$(LINT_STAMP): $(STAMP)
	$(BIN)/python -m pip install -c constraints.txt -e ".[test,lint]"
	touch $@

# Lint, types and the docstring examples; every step runs, and any failure fails the target.
lint: $(LINT_STAMP)
	@status=0; \
	$(BIN)/ruff check dynsearch tests benchmarks || status=1; \
	$(BIN)/mypy dynsearch || status=1; \
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules dynsearch || status=1; \
	exit $$status

quickstart: venv
	$(BIN)/dynsearch calibrate studies/quickstart.toml
	$(BIN)/dynsearch run studies/quickstart.toml
	$(BIN)/dynsearch report quickstart --final-fixed

clean-venv:
	rm -rf $(VENV)
