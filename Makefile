# dynsearch developer commands. `make test` is the one CI runs (.ci/run).

PYTHON      ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
# Re-install only when the project's requirements change.
STAMP       := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv test quickstart clean-venv

venv: $(STAMP)

# constraints.txt pins torch to the CPU wheel: an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e ".[test]"
	touch $@

test: venv
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

quickstart: venv
	$(BIN)/dynsearch run studies/quickstart.toml
	$(BIN)/dynsearch report quickstart

clean-venv:
	rm -rf $(VENV)
