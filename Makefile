# Two entry points for a fresh machine, each installing what it needs first:
#   make demo   offline demo (phantom data, smoke grid, report)
#   make test   the test suite (RADBENCH_SLOW=1 adds the slow tests, as CI does)
PYTHON ?= python3
# two test processes (pytest-xdist; a module's shared fixture keeps its tests in one of them);
# `make test PYTEST_ARGS=` runs them in one process
PYTEST_ARGS ?= -n 2 --dist loadgroup
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

# The tests also take PyTorch, torchvision and timm as torch users have them: PyPI's builds, which
# match each other (CUDA builds; they run on a CPU-only machine), for the weights-export and
# torch-backend tests. Where this index lacks them, those tests skip saying why. onnx and
# onnxruntime: the ONNX export and its check.
# The MLflow tracking server the export test starts: the full mlflow package, without its
# dependencies (its server needs flask, flask-cors, graphene, huey and aiohttp, in the dev
# extra; the rest, pyarrow among them, would add a minute to a fresh install). MedMNIST's own
# evaluator (numpy, pandas and scikit-learn only) checks the MedMNIST script's predictions.
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet 'torch==2.14.1' 'torchvision==0.29.1' 'timm==1.0.31' || \
		echo "torch, torchvision or timm not available here: the torch tests will skip"
	$(BIN)/python -m pip install --quiet --no-deps 'mlflow==3.18.0' || \
		echo "mlflow not available here: the tracking-server test will skip"
	$(BIN)/python -m pip install --quiet 'onnx==1.23.2' 'onnxruntime==1.32.0' || \
		echo "onnx or onnxruntime not available here: the ONNX export test will skip"
	$(BIN)/python -m pip install --quiet --no-deps 'medmnist==3.0.2' || \
		echo "medmnist not available here: its evaluator's check will skip"
	touch $(TEST_STAMP)

test: install $(TEST_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: install $(TEST_STAMP)
	RADBENCH_SLOW=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/radbench demo --out runs/demo

clean:
	rm -rf runs .pytest_cache
