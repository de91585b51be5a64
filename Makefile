# Two entry points for a fresh machine, each installing what it needs first:
#   make demo   offline demo (phantom data, smoke grid, report)
#   make test   the test suite (RADBENCH_SLOW=1 adds the slow tests, as CI does)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

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

# The tests also take PyTorch's CPU build (0.2 GB; PyPI's default is the multi-GB CUDA one) for
# the weights-export and torch-backend tests, and timm for the timm export; where this index
# lacks them, those tests skip saying why.
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet 'torch==2.13.0+cpu' 'torchvision==0.28.0' || \
		echo "torch 2.13.0+cpu not available here: the torch tests will skip"
	$(BIN)/python -m pip install --quiet 'timm==1.0.31' 'torchvision==0.28.0' || \
		echo "timm not available here: the timm export tests will skip"
	touch $(TEST_STAMP)

test: install $(TEST_STAMP)
	$(BIN)/python -m pytest

test-all: install $(TEST_STAMP)
	RADBENCH_SLOW=1 $(BIN)/python -m pytest

demo: install
	$(BIN)/radbench demo --out runs/demo

clean:
	rm -rf runs .pytest_cache
