# Two entry points for a fresh machine, each installing what it needs first:
#   make demo   offline demo (phantom data, smoke grid, report)
#   make test   the test suite (RADBENCH_SLOW=1 adds the slow tests, as CI does)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-all demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cpu,dev]'
	# tf-keras (Keras 2) writes the Keras 2 weight files the tests import; --no-deps because it
	# names the full `tensorflow` package while tensorflow-cpu already provides it.
	$(BIN)/python -m pip install --quiet --no-deps 'tf-keras>=2.21,<2.22'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest

test-all: install
	RADBENCH_SLOW=1 $(BIN)/python -m pytest

demo: install
	$(BIN)/radbench demo --out runs/demo

clean:
	rm -rf runs .pytest_cache
